"""The real-process fault test: a real Celery worker on a real broker (RabbitMQ when it answers),
the paper broker, a few hundred orders, and the worker SIGKILLed at random moments at least fifty
times, a new one started each time on the same queue. At the end the books must agree with the
venue, checked by the venue simulation's auditor (``apps/simulation/auditor.py``) against the
paper broker's stored reports and book: every fill it executed booked once, nothing open on one
side only, holds equal to what the orders still need, the ledger verified, no dead letter.

The seed is printed on failure (``WORKER_KILLS_SEED`` replays it); the kills land wherever the
worker happens to be, so a run is not exactly repeatable, which is the point of this test: the
simulation (``tests/simulation``) is the deterministic one.
"""

from __future__ import annotations

import os
import random
import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.brokers.interface import ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.brokers.tasks import poll_task, relay_task, resync_task
from apps.core.actors import system_actor
from apps.core.errors import ApplicationError
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Fill, Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from apps.orders.state import OPEN
from apps.risk.services import risk_limits_set
from apps.simulation import auditor
from apps.simulation.auditor import VenueOrderView
from plugins.paper.book import to_report
from plugins.paper.models import WORKING, PaperOrder, PaperReport
from tests.workers import Worker, broker_for_tests, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KILLS = 50
ORDERS = 300
WORKER_ENV = {"PAPER_PARTIAL_FILL_QUANTITY": "3", "BROKERS_RELAY_STALE_SECONDS": "1", "BROKERS_RELAY_LOOP": "true"}
ACTIVE = ("pending", "in_flight", "unknown")


def _place(rng: random.Random, account, n: int) -> None:  # type: ignore[no-untyped-def]
    kind = rng.choice(["market", "market", "limit", "limit", "ioc"])
    price = Decimal(rng.choice(["98.00", "99.00", "100.00", "101.00"]))
    order_place(
        actor=system_actor(),
        account=account,
        symbol="ACME",
        side="buy",
        type="market" if kind == "market" else "limit",
        quantity=str(rng.randint(1, 9)),
        limit_price=None if kind == "market" else price,
        time_in_force="ioc" if kind == "ioc" else rng.choice(["gtc", "day"]),
        client_order_id=f"kill-{n}",
    )


def _client_step(rng: random.Random, accounts, placed: int, instrument) -> int:  # type: ignore[no-untyped-def]
    for _ in range(rng.randint(4, 10)):
        if placed < ORDERS:
            _place(rng, rng.choice(accounts), placed)
            placed += 1
    if rng.random() < 0.3:
        open_ids = list(Order.objects.filter(status__in=[s.value for s in OPEN]).values_list("pk", flat=True))
        if open_ids:
            try:
                order_cancel(actor=system_actor(), order_id=rng.choice(open_ids))
            except ApplicationError:
                pass  # it ended meanwhile
    if rng.random() < 0.4:
        price = Decimal(rng.choice(["98.50", "99.50", "100.00", "100.50"]))
        reference_price_set(actor=system_actor(), instrument=instrument, price=price)
    return placed


def _settled() -> bool:
    if OrderInstruction.objects.filter(status__in=ACTIVE).exists():
        return False
    ours = set(Order.objects.filter(status__in=[s.value for s in OPEN]).values_list("pk", flat=True))
    theirs = set(PaperOrder.objects.filter(status__in=WORKING).values_list("order_id", flat=True))
    return ours == theirs and not PaperReport.objects.filter(acknowledged=False).exists()


class PaperTruth:
    """The paper broker's truth for the simulation's auditor: its stored reports and its book."""

    def reports(self) -> list[ExecutionReport]:
        return [to_report(row) for row in PaperReport.objects.order_by("id")]

    def acknowledged(self) -> set[str]:
        return set(PaperReport.objects.filter(acknowledged=True).values_list("exec_id", flat=True))

    def book(self) -> dict[int, VenueOrderView]:
        return {
            order_id: VenueOrderView(order_id, cumulative, status in WORKING)
            for order_id, cumulative, status in PaperOrder.objects.values_list(
                "order_id", "cumulative_quantity", "status"
            )
        }


def _audit() -> list[str]:
    """The venue simulation's auditor, at quiescence, against the paper broker's truth."""
    problems = [f"{kind}: {detail}" for kind, detail in auditor.audit(PaperTruth(), "paper", quiescent=True)]
    if not _settled():
        problems.append("not settled: instructions active or orders open on one side only")
    return problems


def test_sigkill_the_worker_fifty_times_nothing_lost_nothing_doubled(make_account, instrument, tmp_path: Path):
    seed = int(os.environ.get("WORKER_KILLS_SEED") or random.SystemRandom().randrange(10**9))
    rng = random.Random(seed)
    accounts = []
    for i in range(5):
        account = make_account()
        ledger.cash_deposit(
            actor=system_actor(), trading_account=account, currency="USD", amount="1000000", idempotency_key=f"k{i}"
        )
        risk_limits_set(actor=system_actor(), account=account, max_orders_per_second=1000, max_open_orders=1000)
        accounts.append(account)
    broker = broker_for_tests(tmp_path)
    worker: Worker = start_worker(tmp_path, broker, extra_env=WORKER_ENV)
    kills, placed = 0, 0
    try:
        while kills < KILLS or placed < ORDERS:
            placed = _client_step(rng, accounts, placed, instrument)
            for task in (relay_task, poll_task, relay_task, resync_task):
                worker.send(task)
            time.sleep(rng.uniform(0.05, 0.6))  # let it get somewhere, then kill it wherever it is
            worker.stop(kill=True)
            kills += 1
            worker = start_worker(tmp_path, broker, extra_env=WORKER_ENV)
        deadline = time.monotonic() + 120
        while not _settled() and time.monotonic() < deadline:
            for task in (relay_task, poll_task, resync_task):
                worker.send(task)
            time.sleep(1.5)
    finally:
        worker.stop()
    problems = _audit()
    lost_mid_call = OrderInstruction.objects.filter(maybe_delivered=True).count()
    print(  # noqa: T201 - the run's figures, shown with -s
        f"seed {seed}: {kills} kills, {placed} orders, {Fill.objects.count()} fills, {lost_mid_call} instructions "
        f"whose worker died mid-call (resolved by asking the venue)"
    )
    assert not problems, f"seed {seed} ({kills} kills, {placed} orders):\n" + "\n".join(problems)
    assert kills >= KILLS and placed >= ORDERS
    assert Fill.objects.count() > ORDERS // 3  # the run did trade
