"""DAY orders expire at the session close: their holds are released and the venue is told."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.ledger import services as ledger
from apps.ledger.models import Purpose
from apps.orders.calendar import is_trading_day, last_close
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.orders.services import day_orders_expire
from apps.orders.tasks import expire_day_orders_task
from tests.conftest import balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="10000", idempotency_key="r")
    return account


def buy(actor, account, tif):
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="10",
        limit_price="95.00",
        time_in_force=tif,
    )


def test_day_orders_expire_when_the_venue_confirms_gtc_orders_stay(rich, instrument, actor):
    """Defect 8: the hold of a DAY order at the venue is kept until the venue confirms the cancel
    that the expiry sent, so a fill the venue executed before it saw the cancel is covered."""
    day, gtc = buy(actor, rich, "day"), buy(actor, rich, "gtc")
    OrderInstruction.objects.filter(order__in=[day, gtc]).update(status="done")  # both at the venue
    intake.receive(
        "paper",
        ExecutionReport(
            exec_id="p1",
            order_id=day.pk,
            exec_type=ExecType.PARTIAL_FILL,
            last_quantity=Decimal("4"),
            last_price=Decimal("95.00"),
            fee=Decimal("1.00"),
            cumulative_quantity=Decimal("4"),
        ),
    )
    assert day_orders_expire(actor=actor, session_close=datetime.now(UTC) + timedelta(seconds=1)) == 1
    day.refresh_from_db()
    gtc.refresh_from_db()
    assert (day.status, day.filled_quantity) == ("pending_cancel", 4)
    assert gtc.status == "pending_new"
    assert day.events.get(kind="cancel_requested").initiator == "expiry"
    assert OrderInstruction.objects.filter(order=day, action="cancel").exists()
    # still held: 6 x 95.00 (the commission estimate was charged by the first fill)
    assert day.hold.remaining == Decimal("570.00")
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("570.00") + Decimal("951.00")
    assert day_orders_expire(actor=actor, session_close=datetime.now(UTC)) == 1  # still open: looked at again,
    assert OrderInstruction.objects.filter(order=day, action="cancel").count() == 1  # but one cancel is enough
    # the venue filled 1 more before it saw the cancel: booked from the hold, not from available cash
    available = balance(rich)
    fill = ExecutionReport(
        exec_id="p2",
        order_id=day.pk,
        exec_type=ExecType.PARTIAL_FILL,
        last_quantity=Decimal("1"),
        last_price=Decimal("95.00"),
        cumulative_quantity=Decimal("5"),
    )
    assert intake.receive("paper", fill) == "applied"
    assert balance(rich) == available
    confirmed = ExecutionReport(
        exec_id="c1", order_id=day.pk, exec_type=ExecType.CANCELED, cumulative_quantity=Decimal(5)
    )
    assert intake.receive("paper", confirmed) == "applied"
    day.refresh_from_db()
    assert (day.status, day.filled_quantity, day.needs_review) == ("expired", 5, False)
    assert day.events.get(kind="expired").initiator == "expiry"
    assert balance(rich, Purpose.CASH_RESERVED) == gtc.hold.remaining == Decimal("951.00")
    assert balance(rich) == available + Decimal("475.00")  # 5 x 95.00 released
    assert day_orders_expire(actor=actor, session_close=datetime.now(UTC)) == 0  # idempotent


def test_a_day_order_never_sent_expires_here_at_once(rich, instrument, actor):
    order = buy(actor, rich, "day")
    assert day_orders_expire(actor=actor, session_close=datetime.now(UTC) + timedelta(seconds=1)) == 1
    order.refresh_from_db()
    assert order.status == "expired" and balance(rich, Purpose.CASH_RESERVED) == 0
    assert list(OrderInstruction.objects.filter(order=order).values_list("action", "status")) == [
        ("submit", "withdrawn")
    ]


def test_orders_placed_after_the_close_wait_for_the_next_one(rich, instrument, actor):
    order = buy(actor, rich, "day")
    assert day_orders_expire(actor=actor, session_close=order.created_at - timedelta(minutes=1)) == 0
    order.refresh_from_db()
    assert order.status == "pending_new"


def test_the_beat_task_uses_the_calendar(rich, instrument, actor, settings):
    order = buy(actor, rich, "day")
    settings.TRADING_DAYS = []  # no session has closed: nothing expires
    assert expire_day_orders_task.run() == 0
    settings.TRADING_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    settings.TRADING_SESSION_CLOSE_UTC = "00:00"
    assert expire_day_orders_task.run() == 0  # placed after today's close: it waits for tomorrow's
    Order.objects.filter(pk=order.pk).update(created_at=datetime.now(UTC) - timedelta(days=2))
    assert expire_day_orders_task.run() == 1
    order.refresh_from_db()
    assert order.status == "expired"
    assert balance(rich, Purpose.CASH_RESERVED) == 0


def test_calendar(settings):
    settings.TRADING_DAYS = ["mon", "tue", "wed", "thu", "fri"]
    settings.TRADING_HOLIDAYS = ["2026-12-25"]
    settings.TRADING_SESSION_CLOSE_UTC = "21:00"
    assert is_trading_day(date(2026, 11, 25))  # a Wednesday
    assert not is_trading_day(date(2026, 11, 28))  # a Saturday
    assert not is_trading_day(date(2026, 12, 25))
    monday_morning = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert last_close(monday_morning) == datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # Friday's close
    assert last_close(datetime(2026, 11, 25, 21, 0, tzinfo=UTC)) == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    assert last_close(datetime(2026, 12, 26, 9, 0, tzinfo=UTC)) == datetime(2026, 12, 24, 21, 0, tzinfo=UTC)
