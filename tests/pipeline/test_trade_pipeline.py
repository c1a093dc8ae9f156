"""The trade path end to end: place -> outbox -> a real Celery worker on a real broker ->
the paper broker -> execution reports -> fills in the ledger. No eager mode, no mocks.

The workers here run without their relay loop (``BROKERS_RELAY_LOOP=false``): each test sends the
relay task itself, as beat's safety net would, which proves that an outbox row nobody was woken
for loses no order. ``test_relay_loop.py`` runs the loop.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.brokers import registry, relay
from apps.brokers.models import OrderInstruction
from apps.brokers.tasks import poll_task, relay_task
from apps.core.actors import system_actor
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import LedgerAccount, Purpose
from apps.ledger.verification import verify
from apps.orders.models import Fill, Order, Position
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from apps.orders.tickets import ticket_for
from tests.conftest import balance
from tests.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rich(make_account):
    account = make_account()
    ledger.cash_deposit(
        actor=system_actor(),
        trading_account=account,
        currency="USD",
        amount="100000",
        idempotency_key=f"rich-{account.pk}",
    )
    return account


def shares(account, purpose=Purpose.POSITION_AVAILABLE):
    row = LedgerAccount.objects.filter(trading_account=account, purpose=purpose, asset__code="ACME").first()
    return row.balance if row else Decimal(0)


def wait_until(order, *statuses, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if order.status in statuses:
            return order
        time.sleep(0.1)
    pytest.fail(
        f"order {order.pk} is {order.status}, expected {statuses}; events: "
        f"{list(order.events.values_list('kind', flat=True))}"
    )


def place(account, **kw):
    params = {"symbol": "ACME", "side": "buy", "type": "market", "quantity": "10", "time_in_force": "day"}
    params.update(kw)
    return order_place(actor=system_actor(), account=account, **params)


def test_market_buy_is_routed_filled_and_booked(rich, instrument, tmp_path: Path):
    order = place(rich)
    assert order.status == "pending_new"
    with running_worker(tmp_path) as worker:
        worker.send(relay_task)
        wait_until(order, "filled")
    fill = Fill.objects.get(order=order)
    assert (fill.quantity, fill.price, fill.fee) == (Decimal("10"), Decimal("100.00"), Decimal("1.00"))
    assert fill.exec_id.startswith("PAPER-")
    assert balance(rich) == Decimal("100000") - Decimal("1001.00")
    assert balance(rich, Purpose.CASH_RESERVED) == 0  # the collar-priced hold was released
    assert shares(rich) == Decimal("10")
    position = Position.objects.get(account=rich, instrument=instrument)
    assert (position.quantity, position.cost_basis) == (Decimal("10"), Decimal("1001.00"))
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds == ["received", "risk_accepted", "routed", "acknowledged", "filled"]
    assert OrderInstruction.objects.get(order=order).status == "done"
    assert verify().ok


def test_resting_limit_fills_when_the_price_crosses(rich, instrument, tmp_path: Path):
    order = place(rich, type="limit", limit_price="95.00", time_in_force="gtc")
    with running_worker(tmp_path) as worker:
        worker.send(relay_task)
        wait_until(order, "new")
        reference_price_set(actor=system_actor(), instrument=instrument, price="94.00")
        worker.send(poll_task)
        wait_until(order, "filled")
    assert Fill.objects.get(order=order).price == Decimal("94.00")  # the better of limit and reference
    assert balance(rich) == Decimal("100000") - Decimal("941.00")
    assert balance(rich, Purpose.CASH_RESERVED) == 0
    assert verify().ok


def test_cancel_of_a_resting_order_releases_its_hold(rich, instrument, tmp_path: Path):
    order = place(rich, type="limit", limit_price="95.00", time_in_force="gtc")
    with running_worker(tmp_path) as worker:
        worker.send(relay_task)
        wait_until(order, "new")
        assert balance(rich, Purpose.CASH_RESERVED) == Decimal("951.00")
        order_cancel(actor=system_actor(), order_id=order.pk)
        worker.send(relay_task)
        wait_until(order, "canceled")
    assert balance(rich) == Decimal("100000")
    assert balance(rich, Purpose.CASH_RESERVED) == 0
    assert order.events.get(kind="canceled").initiator == "client"


def test_ioc_that_cannot_execute_ends_canceled_not_rejected(rich, instrument, tmp_path: Path):
    order = place(rich, type="limit", limit_price="95.00", time_in_force="ioc")
    with running_worker(tmp_path) as worker:
        worker.send(relay_task)
        wait_until(order, "canceled")
    assert order.reject_reason == ""
    assert balance(rich) == Decimal("100000")


def test_partial_fills_through_the_worker(rich, instrument, tmp_path: Path):
    order = place(rich, quantity="10")
    with running_worker(tmp_path, extra_env={"PAPER_PARTIAL_FILL_QUANTITY": "4"}) as worker:
        worker.send(relay_task)
        wait_until(order, "partially_filled")
        for _ in range(10):  # each poll lets the venue fill one more slice of 4
            if order.status == "filled":
                break
            filled = order.filled_quantity
            worker.send(poll_task)
            deadline = time.monotonic() + 30
            while order.filled_quantity == filled and time.monotonic() < deadline:
                time.sleep(0.1)
                order.refresh_from_db()
        assert order.status == "filled"
    assert list(Fill.objects.filter(order=order).order_by("id").values_list("quantity", flat=True)) == [4, 4, 2]
    assert order.fees == Decimal("1.00")  # the per-order minimum, spread over the fills
    assert balance(rich) == Decimal("100000") - Decimal("1001.00")
    assert verify().ok


def test_a_worker_that_died_mid_call_is_resolved_by_status_never_resent(rich, instrument, tmp_path: Path):
    """The instruction was claimed and the venue got the order, then the worker died before
    booking anything. The next relay asks the venue and books what it says: one order, one fill."""
    order = place(rich)
    claimed = relay._claim(10)
    assert [row.order_id for row, _, _ in claimed] == [order.pk]
    registry.get_adapter("paper").submit(ticket_for(Order.objects.get(pk=order.pk)))  # the venue has it now
    assert OrderInstruction.objects.get(order=order).status == "in_flight"
    with running_worker(tmp_path, extra_env={"BROKERS_RELAY_STALE_SECONDS": "0"}) as worker:
        worker.send(relay_task)
        wait_until(order, "filled")
        worker.send(relay_task)  # a second run finds nothing to do
    assert Fill.objects.filter(order=order).count() == 1
    assert OrderInstruction.objects.get(order=order).status == "done"
    from plugins.paper.models import PaperOrder

    assert PaperOrder.objects.filter(order_id=order.pk).count() == 1
    assert balance(rich) == Decimal("100000") - Decimal("1001.00")


def test_a_killed_worker_loses_nothing(rich, instrument, tmp_path: Path):
    with running_worker(tmp_path) as first:
        first.stop(kill=True)  # SIGKILL: no warm shutdown
    order = place(rich)
    with running_worker(tmp_path) as second:
        second.send(relay_task)
        wait_until(order, "filled")
    assert Fill.objects.filter(order=order).count() == 1


def test_stop_stop_limit_and_fok_orders(rich, instrument, tmp_path: Path):
    stop = place(rich, type="stop", stop_price="105.00", time_in_force="gtc")
    stop_limit = place(rich, type="stop_limit", stop_price="105.00", limit_price="106.00", time_in_force="gtc")
    fok_miss = place(rich, type="limit", limit_price="95.00", time_in_force="fok")
    fok_hit = place(rich, type="limit", limit_price="101.00", time_in_force="fok")
    with running_worker(tmp_path) as worker:
        worker.send(relay_task)
        wait_until(fok_miss, "canceled")
        wait_until(fok_hit, "filled")
        wait_until(stop, "new")
        wait_until(stop_limit, "new")
        reference_price_set(actor=system_actor(), instrument=instrument, price="107.00")
        worker.send(poll_task)
        wait_until(stop, "filled")  # triggered, then a market order at the reference price
        time.sleep(1)
        stop_limit.refresh_from_db()
        assert stop_limit.status == "new"  # triggered, but 107.00 is above its limit: it rests
        reference_price_set(actor=system_actor(), instrument=instrument, price="105.50")
        worker.send(poll_task)
        wait_until(stop_limit, "filled")
    prices = {o.pk: Fill.objects.get(order=o).price for o in (stop, stop_limit, fok_hit)}
    assert prices == {stop.pk: Decimal("107.00"), stop_limit.pk: Decimal("105.50"), fok_hit.pk: Decimal("100.00")}
    assert fok_miss.reject_reason == "" and not Fill.objects.filter(order=fok_miss).exists()
    assert balance(rich, Purpose.CASH_RESERVED) == 0
    assert verify().ok
