"""Throughput against batch size: ``apps.orders.batch.order_place_batch`` at batch sizes 1, 10,
50, 100, 250 and 500 (``--batch-sizes``), one worker process each, on the trade path's funded
accounts (raised risk limits, every check still running).

Each size runs in a worker process of ``bench.workers`` (spawned, warmed up, released by the
start signal), as the ``order_place_batch`` figure of ``bench.trade`` does: the same one-share
limit buys at the reference price, ``size`` to a call. A size runs ``max(MIN_BATCHES, orders /
size)`` calls (``orders`` is ``--orders``). The rate counts orders; p50/p99 are per batch, CPU
per order. Of the 20 warm-up calls, the first ``FULL_WARMUPS`` place a whole batch and the rest
nothing, so that large batches do not spend minutes warming up.

The worker's step is named ``bench.batch_sweep:size_<n>`` (module ``__getattr__`` below).
"""

from __future__ import annotations

import math
import multiprocessing
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from bench import report, workers

if TYPE_CHECKING:
    from bench.results import Collector
    from bench.workers import Spec

MIN_BATCHES = 10
FULL_WARMUPS = 2
PREFIX = "size_"


def placer(actor_id: int, accounts: Sequence[int], *, size: int, seed: int) -> Callable[[str], object]:
    """``size`` one-share limit buys at the reference price, on random accounts and bench
    instruments, in one call of ``order_place_batch``; every order must be accepted."""
    from apps.instruments.models import Instrument
    from apps.orders.batch import OrderRequest, order_place_batch
    from apps.users.models import User
    from bench.trade import QUANTITY, SYMBOL_PREFIX

    actor = User.objects.get(pk=actor_id)
    rng = random.Random(seed)
    rows = Instrument.objects.filter(symbol__startswith=SYMBOL_PREFIX).select_related("reference_price")
    prices: list[tuple[str, Decimal]] = sorted((row.symbol, row.reference_price.price) for row in rows)
    pool = list(accounts)
    warmups = [0]

    def place(key: str) -> object:
        if "-warmup-" in key:
            warmups[0] += 1
            if warmups[0] > FULL_WARMUPS:
                return None
        requests = []
        for n in range(size):
            symbol, price = rng.choice(prices)
            requests.append(
                OrderRequest(
                    account=rng.choice(pool),
                    symbol=symbol,
                    side="buy",
                    type="limit",
                    quantity=QUANTITY,
                    limit_price=price,
                    time_in_force="day",
                    client_order_id=f"{key}-{n}",
                )
            )
        answers = order_place_batch(actor=actor, requests=requests)
        refused = [answer.error for answer in answers if answer.error is not None]
        if refused:
            raise RuntimeError(f"a batch order was refused: {refused[0]}")
        return None

    return place


def __getattr__(name: str) -> Callable[[Spec], Callable[[str], object]]:
    """``size_<n>``: the worker step factory for batches of ``n``."""
    if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
        raise AttributeError(name)
    size = int(name[len(PREFIX) :])

    def factory(spec: Spec) -> Callable[[str], object]:
        return placer(spec.actor_id, spec.ids, size=size, seed=spec.index)

    return factory


def batches_for(size: int, orders: int) -> int:
    return max(MIN_BATCHES, math.ceil(orders / size))


def run(
    *,
    sizes: Sequence[int],
    orders: int,
    actor_id: int,
    accounts: tuple[int, ...],
    collected: Collector,
    progress: Callable[[str], None],
) -> list[report.WriteFigure]:
    """Run the sweep, print its table, and add its figures to ``collected``."""
    context = multiprocessing.get_context("spawn")
    figures = []
    for size in sizes:
        batches = batches_for(size, orders)
        plan = workers.specs(
            f"bench.batch_sweep:{PREFIX}{size}",
            workers=1,
            total=batches,
            actor_id=actor_id,
            ids=accounts,
            key=f"s{size}",
        )
        done = workers.run(plan, context)
        fig = report.WriteFigure(
            label=f"batch of {size}, {batches} batches",
            workers=1,
            postings=len(done.latencies) * size,  # the rate counts orders; latencies stay per batch
            wall_seconds=done.wall_seconds,
            latencies=done.latencies,
            errors=done.errors,
            outcomes=done.outcomes,
            retries=done.retries,
            deadlocks=done.deadlocks,
            rollbacks=done.rollbacks,
            client_cpu=done.client_cpu,
            server_cpu=done.server_cpu,
        )
        progress(f"order_place_batch, batch of {size}: {fig.rate:.0f} orders/s")
        figures.append(fig)
        name = f"order_place_batch sweep, 1 worker, batch of {size}"
        collected.write(fig, "batch sweep", batch_size=size, name=name, unit="orders/s")
    report.print_writes(
        figures,
        title="order_place_batch by batch size, 1 worker (p50/p99 per batch)",
        unit="order",
        count="orders",
    )
    return figures
