"""Booking execution reports: fills into the ledger, holds, positions, timeline, idempotency.

Reports are the outside world's input here (typed values from a broker); the pipeline tests
drive the same code through a real worker and the paper broker."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord, OrderInstruction
from apps.ledger import services as ledger
from apps.ledger.models import LedgerAccount, Purpose
from apps.ledger.verification import verify
from apps.orders.models import Fill, Order, Position
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from tests.conftest import balance

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


@pytest.fixture
def rich(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="rich")
    return account


def buy(actor, account, quantity="10", limit="100.00", **kw):
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force="day",
        **kw,
    )


def report(order, exec_type, qty="0", price=None, fee="0", exec_id=None, **kw):
    qty = Decimal(qty)
    return ExecutionReport(
        exec_id=exec_id or f"X{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=qty,
        last_price=Decimal(price) if price else None,
        fee=Decimal(fee),
        broker_time=datetime(2026, 11, 25, 15, 30, 0, 123456, tzinfo=UTC),
        **kw,
    )


def shares(account, purpose=Purpose.POSITION_AVAILABLE):
    row = LedgerAccount.objects.filter(trading_account=account, purpose=purpose, asset__code="ACME").first()
    return row.balance if row else Decimal(0)


def test_partial_then_full_fill_books_cash_shares_fees_and_releases_the_rest(rich, instrument, actor):
    order = buy(actor, rich)
    assert intake.receive("paper", report(order, ExecType.NEW)) == "applied"
    assert intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "4", "99.50", "1.00")) == "applied"
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", Decimal("4"))
    # 6 x 100.00 still to buy; the commission estimate (1.00) was charged by the first fill
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("600.00")
    assert intake.receive("paper", report(order, ExecType.FILL, "6", "100.00", "1.00")) == "applied"
    order.refresh_from_db()
    assert order.status == "filled"
    assert order.average_fill_price == Decimal("99.80")
    assert order.fees == Decimal("2.00")
    assert balance(rich) == Decimal("49000.00")  # 50,000 - 398 - 600 - 2 in fees
    assert balance(rich, Purpose.CASH_RESERVED) == 0
    assert shares(rich) == Decimal("10")
    position = Position.objects.get(account=rich, instrument=instrument)
    assert (position.quantity, position.cost_basis, position.average_cost) == (10, Decimal("1000.00"), Decimal("100"))
    fee_income = LedgerAccount.objects.get(trading_account=None, purpose="fee_income", asset__code="USD")
    assert fee_income.balance == Decimal("2.00")
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds == ["received", "risk_accepted", "acknowledged", "partially_filled", "filled"]
    filled = order.events.get(kind="filled")
    assert filled.broker_at == datetime(2026, 11, 25, 15, 30, 0, 123456, tzinfo=UTC)
    assert filled.data["transaction_id"] == Fill.objects.get(order=order, quantity=6).transaction_id
    assert verify().ok


def test_sell_realises_pnl_against_average_cost(rich, instrument, actor):
    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.FILL, "10", "100.00", "1.00"))
    sell = order_place(
        actor=actor,
        account=rich,
        symbol="ACME",
        side="sell",
        type="limit",
        quantity="5",
        limit_price="110.00",
        time_in_force="gtc",
    )
    assert sell.status == "pending_new"
    assert shares(rich) == 5 and shares(rich, Purpose.POSITION_RESERVED) == 5
    intake.receive("paper", report(sell, ExecType.FILL, "5", "110.00", "1.00"))
    position = Position.objects.get(account=rich, instrument=instrument)
    # cost basis 1,001.00 (fee included); half sold: 550 - 1 - 500.50 realised
    assert position.realized_pnl == Decimal("48.50")
    assert (position.quantity, position.cost_basis) == (5, Decimal("500.50"))
    assert balance(rich) == Decimal("50000") - Decimal("1001.00") + Decimal("549.00")
    assert shares(rich, Purpose.POSITION_RESERVED) == 0
    assert verify().ok


def test_duplicate_and_replayed_reports_change_nothing(rich, instrument, actor):
    order = buy(actor, rich)
    fill = report(order, ExecType.PARTIAL_FILL, "4", "100.00", "1.00", exec_id="E-1")
    assert intake.receive("paper", fill) == "applied"
    before = (balance(rich), balance(rich, Purpose.CASH_RESERVED), Fill.objects.count(), order.events.count())
    assert intake.receive("paper", fill) == "duplicate"
    assert intake.receive("paper", fill) == "duplicate"
    assert (balance(rich), balance(rich, Purpose.CASH_RESERVED), Fill.objects.count(), order.events.count()) == before


def test_a_fill_before_the_acknowledgement_is_applied(rich, instrument, actor):
    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "3", "100.00"))
    intake.receive("paper", report(order, ExecType.NEW))
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.broker_order_id) == ("partially_filled", 3, f"B{order.pk}")


def test_cancel_releases_the_hold_and_names_the_initiator(rich, instrument, actor):
    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "4", "100.00", "1.00"))
    assert order_cancel(actor=actor, order_id=order.pk).status == "pending_cancel"
    assert order_cancel(actor=actor, order_id=order.pk).status == "pending_cancel"  # idempotent
    assert OrderInstruction.objects.filter(order=order, action="cancel").count() == 1
    # a fill racing the cancel is still booked
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "1", "100.00", "1.00"))
    intake.receive("paper", report(order, ExecType.CANCELED))
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("canceled", 5)
    assert balance(rich, Purpose.CASH_RESERVED) == 0
    assert balance(rich) == Decimal("50000") - Decimal("502.00")
    assert order.events.get(kind="canceled").initiator == "client"
    assert verify().ok


def test_a_fill_after_the_cancel_is_booked_and_flagged(rich, instrument, actor):
    order = buy(actor, rich)
    order_cancel(actor=actor, order_id=order.pk)
    intake.receive("paper", report(order, ExecType.CANCELED))
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "2", "100.00", "1.00"))
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.needs_review) == ("canceled", 2, True)
    assert Fill.objects.get(order=order).late
    assert balance(rich) == Decimal("50000") - Decimal("201.00")
    assert verify().ok


def test_replace_of_a_partially_filled_order_keeps_the_fill_and_resizes_the_hold(rich, instrument, actor):
    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.NEW))
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "4", "100.00", "1.00"))
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("600.00")
    order_replace(actor=actor, order_id=order.pk, quantity="8", limit_price="101.00")
    intake.receive("paper", report(order, ExecType.REPLACED, quantity=Decimal("8"), limit_price=Decimal("101.00")))
    order.refresh_from_db()
    assert (order.status, order.quantity, order.limit_price, order.filled_quantity) == (
        "partially_filled",
        8,
        Decimal("101.00"),
        4,
    )
    # 4 x 101.00 still to buy; the commission estimate for 8 (1.00) was charged by the first fill
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("404.00")
    assert verify().ok


def test_replace_upwards_grows_the_hold_or_is_refused(account, instrument, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="2000", idempotency_key="d")
    order = buy(actor, account)
    intake.receive("paper", report(order, ExecType.NEW))
    order_replace(actor=actor, order_id=order.pk, quantity="15")
    assert balance(account, Purpose.CASH_RESERVED) == Decimal("1501.00")
    intake.receive("paper", report(order, ExecType.REPLACE_REJECTED))
    order.refresh_from_db()
    assert (order.status, order.quantity) == ("new", 10)
    assert balance(account, Purpose.CASH_RESERVED) == Decimal("1001.00")
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError) as info:
        order_replace(actor=actor, order_id=order.pk, quantity="30")
    assert info.value.code == "insufficient_buying_power"
    order.refresh_from_db()
    assert order.status == "new" and balance(account, Purpose.CASH_RESERVED) == Decimal("1001.00")


def test_illegal_transitions_and_overfills_are_dead_lettered_not_applied(rich, instrument, actor):
    refused, order = buy(actor, rich), buy(actor, rich)
    assert intake.receive("paper", report(refused, ExecType.REJECTED, text="no")) == "applied"
    # Nothing was ever working at the venue: a fill of a refused order is illegal.
    assert intake.receive("paper", report(refused, ExecType.FILL, "1", "100.00", exec_id="bad-1")) == "dead"
    assert intake.receive("paper", report(order, ExecType.FILL, "11", "100.00", exec_id="bad-2")) == "dead"
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("pending_new", 0)
    dead = ExecutionReportRecord.objects.filter(status="dead").order_by("exec_id")
    assert [(r.exec_id, r.error.split(":")[0]) for r in dead] == [
        ("bad-1", "illegal_transition"),
        ("bad-2", "overfill"),
    ]
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("1001.00")


def test_terminal_order_cannot_be_canceled(rich, instrument, actor):
    from apps.core.errors import ApplicationError

    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.FILL, "10", "100.00"))
    with pytest.raises(ApplicationError) as info:
        order_cancel(actor=actor, order_id=order.pk)
    assert info.value.code == "order_not_cancelable" and info.value.status == 422


def test_fill_query_count(rich, instrument, actor, django_assert_max_num_queries):
    order = buy(actor, rich)
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "1", "100.00", "1.00"))
    # 15 to book it, 1 to acknowledge it to the adapter, + two SAVEPOINT/RELEASE pairs inside the test transaction
    with django_assert_max_num_queries(16 + 4):
        intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "1", "100.00", "1.00"))
    assert Order.objects.get(pk=order.pk).filled_quantity == 2


def test_reports_of_one_order_commit_together_and_a_bad_one_is_set_aside(rich, instrument, actor):
    order = buy(actor, rich)
    good = [report(order, ExecType.NEW), report(order, ExecType.PARTIAL_FILL, "4", "100.00", "1.00")]
    assert intake.receive_many("paper", good) == ["applied", "applied"]
    mixed = [report(order, ExecType.PARTIAL_FILL, "2", "100.00"), report(order, ExecType.FILL, "9", "100.00")]
    assert intake.receive_many("paper", mixed) == ["applied", "dead"]  # 4 + 2 + 9 would overfill 10
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", 6)
    assert intake.receive_many("paper", good) == ["duplicate", "duplicate"]
