"""The trade path: accounts and instruments for orders, and the steps worker processes run.

Every order goes through ``apps.orders.placement.order_place`` (validation, pre-trade risk
under the account's balance locks, the hold, the timeline, the outbox row, the relay enqueued
on commit), and every fill through ``apps.brokers.intake.receive`` (the report recorded once,
the order locked, the fill's journal transaction from the hold, the position, the release of
what the hold no longer needs, the timeline). The steps are named ``bench.trade:<factory>``
in ``bench.workers.Spec.mode``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.workers import WARMUP, Spec

FUNDING = "10000000.00"
SYMBOL_PREFIX = "BENCH"
QUANTITY = "1"
#: a superuser the API figure authenticates as (superusers may trade on every account)
API_USER = "bench-api"
FEE = Decimal("1.00")
#: raised for the bench accounts so that risk accepts every well-funded order (the checks still run)
LIMITS: dict[str, object] = {
    "max_orders_per_second": 1_000_000,
    "max_open_orders": 1_000_000,
    "max_daily_notional": "1000000000000",
    "max_order_notional": "1000000000",
    "max_position_quantity": "1000000000",
}


@dataclass(frozen=True)
class TradeFixtures:
    actor_id: int
    #: trading account ids, each funded with FUNDING USD and with LIMITS
    accounts: list[int]
    #: symbol -> reference price (the limit orders' price: marketable, inside the collar)
    prices: dict[str, Decimal]


def create(*, accounts: int, symbols: int) -> TradeFixtures:
    """Instruments with fresh reference prices, and funded accounts with raised limits, all
    through the services."""
    from apps.accounts.services import trading_account_create
    from apps.core.actors import system_actor
    from apps.instruments.services import instrument_create, reference_price_set
    from apps.ledger.services import cash_deposit
    from apps.risk.services import risk_limits_set
    from apps.users.models import User

    actor = system_actor()
    User.objects.get_or_create(username=API_USER, defaults={"is_superuser": True, "is_staff": True})
    prices: dict[str, Decimal] = {}
    for n in range(symbols):
        symbol = f"{SYMBOL_PREFIX}{n:02d}"
        instrument = instrument_create(
            actor=actor, symbol=symbol, name=f"Bench {n}", currency="USD", tick_size="0.01", lot_size="1"
        )
        price = Decimal(100 + n).quantize(Decimal("0.01"))
        reference_price_set(actor=actor, instrument=instrument, price=price)
        prices[symbol] = price
    ids = []
    for n in range(accounts):
        account = trading_account_create(actor=actor, name=f"Bench trader {n}", base_currency="USD")
        cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount=FUNDING, idempotency_key=f"trade-{account.pk}"
        )
        risk_limits_set(actor=actor, account=account, **LIMITS)
        ids.append(account.pk)
    return TradeFixtures(actor_id=actor.pk, accounts=ids, prices=prices)


def _prices() -> list[tuple[str, Decimal]]:
    from apps.instruments.models import Instrument

    rows = Instrument.objects.filter(symbol__startswith=SYMBOL_PREFIX).select_related("reference_price")
    return sorted((row.symbol, row.reference_price.price) for row in rows)


def placer(actor_id: int, accounts: Sequence[int], *, market: bool, seed: int) -> Callable[[str], object]:
    """Place a one-share buy on a random account and instrument, the key as client order id:
    a limit at the reference price (marketable), or a market order."""
    from apps.orders.placement import order_place
    from apps.users.models import User

    actor = User.objects.get(pk=actor_id)
    rng = random.Random(seed)
    prices = _prices()
    pool = list(accounts)

    def place(key: str) -> object:
        symbol, price = rng.choice(prices)
        return order_place(
            actor=actor,
            account=rng.choice(pool),
            symbol=symbol,
            side="buy",
            type="market" if market else "limit",
            quantity=QUANTITY,
            limit_price=None if market else price,
            time_in_force="day",
            client_order_id=key,
        )

    return place


#: orders per call of the batch placement figure
BATCH = 100
#: orders per warm-up call of a batch placer (warm-up calls only load code and caches)
WARMUP_BATCH = 5


def batch_placer(
    actor_id: int, accounts: Sequence[int], *, seed: int, market: bool = False, size: int = BATCH
) -> Callable[[str], object]:
    """Place ``size`` one-share buys (as ``placer`` makes them: limits at the reference price, or
    market orders) in one call of ``order_place_batch``: one transaction, one lock statement, a
    constant number of statements. A warm-up call places ``WARMUP_BATCH``."""
    from apps.orders.batch import OrderRequest, order_place_batch
    from apps.users.models import User

    actor = User.objects.get(pk=actor_id)
    rng = random.Random(seed)
    prices = _prices()
    pool = list(accounts)

    def place(key: str) -> object:
        requests = []
        for n in range(WARMUP_BATCH if "-warmup-" in key else size):
            symbol, price = rng.choice(prices)
            requests.append(
                OrderRequest(
                    account=rng.choice(pool),
                    symbol=symbol,
                    side="buy",
                    type="market" if market else "limit",
                    quantity=QUANTITY,
                    limit_price=None if market else price,
                    time_in_force="day",
                    client_order_id=f"{key}-{n}",
                )
            )
        answers = order_place_batch(actor=actor, requests=requests)
        refused = [a.error for a in answers if a.error is not None]
        if refused:
            raise RuntimeError(f"a batch order was refused: {refused[0]}")
        return "batch"

    return place


def place_batch(spec: Spec) -> Callable[[str], object]:
    return batch_placer(spec.actor_id, spec.ids, seed=spec.index)


def api_placer(accounts: Sequence[int], *, seed: int) -> Callable[[str], object]:
    """Place the same limit buys as ``placer``, through the REST API: ``POST /api/v1/orders/``
    with a JWT bearer token, through Django's whole request path (middleware, authentication,
    permission policy, throttles, serializers, the problem handler) in this process."""
    import json

    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.users.models import User

    user = User.objects.get(username=API_USER)
    client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    rng = random.Random(seed)
    prices = _prices()
    pool = list(accounts)

    def place(key: str) -> object:
        symbol, price = rng.choice(prices)
        body = {
            "account": rng.choice(pool),
            "symbol": symbol,
            "side": "buy",
            "type": "limit",
            "quantity": QUANTITY,
            "limit_price": f"{price:f}",
            "time_in_force": "day",
            "client_order_id": key,
        }
        response = client.post("/api/v1/orders/", json.dumps(body), content_type="application/json")
        if response.status_code not in (200, 201, 422):
            raise RuntimeError(f"POST /api/v1/orders/ answered {response.status_code}: {response.content[:200]!r}")
        return f"HTTP {response.status_code}"

    return place


def api_place_limit(spec: Spec) -> Callable[[str], object]:
    return api_placer(spec.ids, seed=spec.index)


def place_limit(spec: Spec) -> Callable[[str], object]:
    return placer(spec.actor_id, spec.ids, market=False, seed=spec.index)


def place_market(spec: Spec) -> Callable[[str], object]:
    return placer(spec.actor_id, spec.ids, market=True, seed=spec.index)


#: orders per call of the end-to-end run through the batch entry (``--e2e-batch``)
E2E_BATCH = int(os.environ.get("BENCH_E2E_BATCH", "100"))


def place_market_batch(spec: Spec) -> Callable[[str], object]:
    return batch_placer(spec.actor_id, spec.ids, seed=spec.index, market=True, size=E2E_BATCH)


def fill_reports(order_ids: Sequence[int]) -> Callable[[str], Any]:
    """A FILL report for each of ``order_ids`` in turn: the whole quantity at the limit price, a
    1.00 commission, as the paper broker would report it."""
    from datetime import UTC, datetime

    from apps.brokers.interface import ExecType, ExecutionReport
    from apps.orders.models import Order

    terms = {
        pk: (quantity, price)
        for pk, quantity, price in Order.objects.filter(pk__in=order_ids).values_list("pk", "quantity", "limit_price")
    }
    queue = iter(order_ids)

    def report(key: str) -> Any:
        order_id = next(queue)
        quantity, price = terms[order_id]
        return ExecutionReport(
            exec_id=f"BENCH-{key}",
            order_id=order_id,
            exec_type=ExecType.FILL,
            broker_order_id=f"BENCH-{order_id}",
            last_quantity=quantity,
            last_price=price,
            fee=FEE,
            cumulative_quantity=quantity,
            leaves_quantity=Decimal(0),
            broker_time=datetime.now(UTC),
        )

    return report


def filler(order_ids: Sequence[int]) -> Callable[[str], object]:
    """Book one FILL report (``fill_reports``) per call through ``intake.receive``."""
    from apps.brokers import intake

    report = fill_reports(order_ids)

    def fill(key: str) -> object:
        return intake.receive("paper", report(key))

    return fill


def fill_step(spec: Spec) -> Callable[[str], object]:
    return filler(spec.ids)


def batch_filler(order_ids: Sequence[int]) -> Callable[[str], object]:
    """Book ``BATCH`` FILL reports (as ``filler`` makes them) in one ``intake.receive_many`` call:
    one transaction, the reports recorded in one statement, every row locked once, the postings
    and the order side written with one statement per table. A warm-up call books ``WARMUP_BATCH``."""
    from apps.brokers import intake

    report = fill_reports(order_ids)

    def fill(key: str) -> object:
        size = WARMUP_BATCH if "-warmup-" in key else BATCH
        reports = [report(f"{key}-{n}") for n in range(size)]
        outcomes = intake.receive_many("paper", reports)
        if outcomes.count("applied") != size:
            raise RuntimeError(f"a batch of fills was not booked: {sorted(set(outcomes))}")
        return "batch"

    return fill


def fill_batch_step(spec: Spec) -> Callable[[str], object]:
    return batch_filler(spec.ids)


def fill_batch_specs(*, order_ids: Sequence[int], workers: int, batches: int, actor_id: int, key: str) -> list[Spec]:
    """Split ``batches`` calls of ``BATCH`` fills over ``workers`` processes, each with its own orders."""
    share, extra = divmod(batches, workers)
    specs, taken = [], 0
    for index in range(workers):
        count = share + (1 if index < extra else 0)
        needed = count * BATCH + WARMUP * WARMUP_BATCH
        mine = tuple(order_ids[taken : taken + needed])
        if len(mine) < needed:
            raise RuntimeError(f"not enough accepted orders to book {batches} batches of fills")
        taken += needed
        specs.append(Spec("bench.trade:fill_batch_step", index, count, actor_id, mine, key))
    return specs


def accepted_orders(prefix: str) -> list[int]:
    """Orders accepted by risk and not yet booked (pending_new), placed under ``prefix``, by id."""
    from apps.orders.models import Order

    return list(
        Order.objects.filter(client_order_id__startswith=f"{prefix}-", status="pending_new")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def fill_specs(*, order_ids: Sequence[int], workers: int, total: int, actor_id: int, key: str) -> list[Spec]:
    """Split ``total`` fills over ``workers`` processes, each with its own orders (warm-up first)."""
    share, extra = divmod(total, workers)
    specs, taken = [], 0
    for index in range(workers):
        count = share + (1 if index < extra else 0)
        mine = tuple(order_ids[taken : taken + count + WARMUP])
        if len(mine) < count + WARMUP:
            raise RuntimeError(f"not enough accepted orders to book {total} fills with {workers} workers")
        taken += count + WARMUP
        specs.append(Spec("bench.trade:fill_step", index, count, actor_id, mine, key))
    return specs
