"""The relay loop in real Celery workers: orders placed in batches are relayed, filled and booked
with no task sent at all (the outbox insert wakes the loops through LISTEN/NOTIFY), and two worker
processes draining one outbox concurrently send every order once. The venue simulation's auditor
checks the books against the paper broker's truth."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.brokers.models import OrderInstruction
from apps.core.actors import system_actor
from apps.ledger import services as ledger
from apps.orders.batch import OrderRequest, order_place_batch
from apps.orders.models import Fill, Order
from apps.risk.services import risk_limits_set
from plugins.paper.models import PaperOrder
from tests.pipeline.test_worker_kills import _audit
from tests.workers import broker_for_tests, running_worker, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LOOP = {"BROKERS_RELAY_LOOP": "true", "BROKERS_RELAY_BATCH": "25"}
_coids = itertools.count(1)


@pytest.fixture
def traders(make_account):
    accounts = []
    for i in range(4):
        account = make_account()
        ledger.cash_deposit(
            actor=system_actor(), trading_account=account, currency="USD", amount="1000000", idempotency_key=f"l{i}"
        )
        risk_limits_set(actor=system_actor(), account=account, max_orders_per_second=10000, max_open_orders=10000)
        accounts.append(account)
    return accounts


def place(traders, count: int) -> list[Order]:
    requests = [
        OrderRequest(
            account=traders[i % len(traders)],
            symbol="ACME",
            side="buy",
            type="market",
            quantity="1",
            client_order_id=f"loop-{next(_coids)}",
        )
        for i in range(count)
    ]
    placed = order_place_batch(actor=system_actor(), requests=requests)
    assert all(p.error is None for p in placed), [p.error for p in placed if p.error]
    return [p.order for p in placed if p.order is not None]


def wait_filled(count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if Order.objects.filter(status="filled").count() == count:
            return
        time.sleep(0.2)
    statuses = list(Order.objects.values_list("status", flat=True))
    pytest.fail(f"{statuses.count('filled')} of {count} filled in {seconds}s: {sorted(set(statuses))}")


def test_the_loop_relays_what_is_committed_without_any_task(traders, instrument, tmp_path: Path):
    with running_worker(tmp_path, extra_env=LOOP) as worker:
        worker.wait_for(r"relay loop started")
        for _ in range(4):
            place(traders, 30)  # each batch's commit wakes the loop
        wait_filled(120)
        assert "Task brokers.relay" not in worker.log.read_text()  # no task ran: the loop did it all
    assert Fill.objects.count() == 120
    assert set(OrderInstruction.objects.values_list("status", "attempts")) == {("done", 1)}
    assert _audit() == []


def test_two_worker_processes_drain_one_outbox_each_order_sent_once(traders, instrument, tmp_path: Path):
    broker = broker_for_tests(tmp_path)
    workers = []
    try:
        for _ in range(2):
            workers.append(start_worker(tmp_path, broker, extra_env=LOOP))
        for worker in workers:
            worker.wait_for(r"relay loop started")
        for _ in range(10):
            place(traders, 30)
        wait_filled(300)
    finally:
        for worker in workers:
            worker.stop()
    assert Fill.objects.count() == 300
    assert PaperOrder.objects.count() == 300
    # each instruction claimed once, by one of the two loops: none sent twice
    assert set(OrderInstruction.objects.values_list("status", "attempts")) == {("done", 1)}
    assert sum(Order.objects.values_list("filled_quantity", flat=True)) == Decimal(300)
    assert _audit() == []
