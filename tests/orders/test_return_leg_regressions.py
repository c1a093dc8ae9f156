"""Regression tests for the return-leg defects of issue 9, each named after its scenario.

Reports are fed to the intake as a venue sends them (FIX 4.4 Appendix D orderings included);
after each scenario the books must agree: the hold reserves exactly what the order still needs
(``apps.orders.holds.hold_needed``), reserved balances equal active holds, and verify() is clean.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord, OrderInstruction, ReportReplay
from apps.compliance.queues import dead_letter_list
from apps.core import faults
from apps.core.errors import ApplicationError
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger import services as ledger
from apps.ledger.models import Hold, JournalEntry, LedgerAccount, Purpose
from apps.ledger.verification import verify
from apps.orders.holds import hold_needed
from apps.orders.models import Fill, Order, Position
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from tests.conftest import balance

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


@pytest.fixture
def rich(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="100000", idempotency_key="rl")
    return account


def at_venue(order: Order) -> Order:
    """The relay sent the submit and the venue acknowledged it."""
    OrderInstruction.objects.filter(order=order).update(status="done")
    assert intake.receive("paper", report(order, ExecType.NEW)) == "applied"
    order.refresh_from_db()
    return order


def buy(actor, account, quantity="10", limit="90.00", symbol="ACME", type="limit", tif="gtc"):
    return order_place(
        actor=actor,
        account=account,
        symbol=symbol,
        side="buy",
        type=type,
        quantity=quantity,
        limit_price=limit if type == "limit" else None,
        time_in_force=tif,
    )


def report(order, exec_type, qty="0", price=None, fee="0", *, exec_id=None, cum=None, **kw) -> ExecutionReport:
    return ExecutionReport(
        exec_id=exec_id or f"RL{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        fee=Decimal(fee),
        cumulative_quantity=Decimal(cum if cum is not None else qty),
        broker_time=datetime(2026, 11, 30, 15, 30, 0, 123456, tzinfo=UTC),
        **kw,
    )


def request_of(order: Order, action: str) -> str:
    return OrderInstruction.objects.filter(order=order, action=action).order_by("-id").first().request_id


def assert_books_agree(account, *orders: Order) -> None:
    for order in orders:
        order.refresh_from_db()
        if order.hold_id:
            hold = Hold.objects.get(pk=order.hold_id)
            assert hold.remaining == hold_needed(order), (order.status, hold.remaining, hold_needed(order))
    active = sum(h.remaining for h in Hold.objects.filter(status="active", reserved_account__trading_account=account))
    assert balance(account, Purpose.CASH_RESERVED) == active
    assert verify().ok


# --- Defect 1: replace, then cancel, loses the venue's fills ----------------------------------------

REPLACE_THEN_CANCEL = ["replaced", "fill", "cancel_rejected"]


@pytest.mark.parametrize("ordering", list(itertools.permutations(REPLACE_THEN_CANCEL)))
def test_replace_then_cancel_books_the_fills_of_the_replaced_order_in_any_order(rich, instrument, actor, ordering):
    """A resting buy 10 @ 90 is replaced to 20 @ 101 (marketable) and canceled at once. The venue
    replaces it, fills 20 and rejects the cancel (the order is filled); we must book the 20,
    whatever order the three reports arrive in."""
    order = at_venue(buy(actor, rich))
    order_replace(actor=actor, order_id=order.pk, quantity="20", limit_price="101.00")
    assert order_cancel(actor=actor, order_id=order.pk).status == "pending_cancel"
    replace_id, cancel_id = request_of(order, "replace"), request_of(order, "cancel")
    reports = {
        "replaced": report(
            order,
            ExecType.REPLACED,
            request_id=replace_id,
            quantity=Decimal(20),
            limit_price=Decimal("101.00"),
            leaves_quantity=Decimal(20),
        ),
        "fill": report(order, ExecType.FILL, "20", "100.50", "1.00", request_id=replace_id, quantity=Decimal(20)),
        "cancel_rejected": report(
            order, ExecType.CANCEL_REJECTED, cum="20", request_id=cancel_id, text="the order is filled"
        ),
    }
    for name in ordering:
        assert intake.receive("paper", reports[name]) == "applied", name
    order.refresh_from_db()
    assert (order.status, order.quantity, order.limit_price, order.filled_quantity) == (
        "filled",
        20,
        Decimal("101.00"),
        20,
    )
    assert order.pending_replace is None
    assert balance(rich) == Decimal("100000") - Decimal("2010.00") - Decimal("1.00")
    assert Fill.objects.get(order=order).quantity == 20
    assert_books_agree(rich, order)


@pytest.mark.parametrize(
    ("answers", "status", "quantity"),
    [
        (["replace_rejected", "canceled"], "canceled", 10),
        (["canceled", "replace_rejected"], "canceled", 10),
        (["replaced", "canceled"], "canceled", 20),
        (["canceled", "replaced"], "canceled", 20),
        (["replace_rejected", "cancel_rejected"], "new", 10),
        (["cancel_rejected", "replace_rejected"], "new", 10),
        (["cancel_rejected", "replaced"], "new", 20),
        (["replaced", "cancel_rejected"], "new", 20),
    ],
)
def test_a_pending_replace_and_cancel_are_answered_in_any_order(rich, instrument, actor, answers, status, quantity):
    order = at_venue(buy(actor, rich))
    order_replace(actor=actor, order_id=order.pk, quantity="20", limit_price="91.00")
    order_cancel(actor=actor, order_id=order.pk)
    replace_id, cancel_id = request_of(order, "replace"), request_of(order, "cancel")
    made = {
        "replaced": dict(exec_type=ExecType.REPLACED, quantity=Decimal(20), limit_price=Decimal("91.00")),
        "replace_rejected": dict(exec_type=ExecType.REPLACE_REJECTED, text="too late"),
        "canceled": dict(exec_type=ExecType.CANCELED, text="canceled"),
        "cancel_rejected": dict(exec_type=ExecType.CANCEL_REJECTED, text="too late"),
    }
    for name in answers:
        fields = made[name]
        request_id = replace_id if "replace" in name else cancel_id
        assert intake.receive("paper", report(order, fields.pop("exec_type"), request_id=request_id, **fields)) == (
            "applied"
        )
    order.refresh_from_db()
    assert (order.status, order.quantity, order.pending_replace) == (status, quantity, None)
    assert_books_agree(rich, order)


# --- Defect 2: a replayed hold settle or increase still moved the hold ------------------------------


def test_an_oscillating_replace_keeps_reserved_cash_equal_to_the_hold(rich, instrument, actor):
    order = at_venue(buy(actor, rich, limit="100.00"))
    for _ in range(3):  # up, rejected, up again, rejected...
        order_replace(actor=actor, order_id=order.pk, quantity="15")
        assert balance(rich, Purpose.CASH_RESERVED) == Decimal("1501.00")
        rejected = report(order, ExecType.REPLACE_REJECTED, request_id=request_of(order, "replace"), text="no")
        assert intake.receive("paper", rejected) == "applied"
        assert balance(rich, Purpose.CASH_RESERVED) == Decimal("1001.00")
        assert_books_agree(rich, order)


def test_a_replayed_hold_posting_does_not_move_the_hold_again(rich, instrument, actor):
    order = buy(actor, rich, limit="100.00")
    with transaction.atomic():
        hold = Hold.objects.get(pk=order.hold_id)
        accounts = ledger_locks.lock_ledger_accounts([hold.available_account_id, hold.reserved_account_id])
        hold = ledger_locks.lock_hold(hold.pk)
        for _ in range(2):
            ledger_ops.hold_release_locked(
                accounts=accounts, hold=hold, amount=Decimal("100"), idempotency_key="same-key", actor_id=actor.pk
            )
            ledger_ops.hold_increase_locked(
                accounts=accounts, hold=hold, amount=Decimal("50"), idempotency_key="same-up", actor_id=actor.pk
            )
    hold.refresh_from_db()
    assert (hold.amount, hold.remaining) == (Decimal("1051.00"), Decimal("951.00"))
    assert balance(rich, Purpose.CASH_RESERVED) == hold.remaining
    assert verify().ok


# --- Defect 3: reports lost when their intake failed ------------------------------------------------


def test_a_rebate_is_a_legal_fee(rich, instrument, actor):
    order = at_venue(buy(actor, rich, limit="100.00"))
    assert intake.receive("paper", report(order, ExecType.FILL, "10", "100.00", "-0.25")) == "applied"
    fill = Fill.objects.get(order=order)
    assert fill.fee == Decimal("-0.25")
    assert balance(rich) == Decimal("100000") - Decimal("1000.00") + Decimal("0.25")
    fee_income = LedgerAccount.objects.get(trading_account=None, purpose="fee_income", asset__code="USD")
    assert fee_income.balance == Decimal("-0.25")
    position = Position.objects.get(account=rich, instrument=instrument)
    assert position.cost_basis == Decimal("999.75")
    assert_books_agree(rich, order)


def test_an_exec_id_longer_than_the_column_is_dead_lettered_not_lost(rich, instrument, actor):
    order = at_venue(buy(actor, rich))
    bad = report(order, ExecType.PARTIAL_FILL, "1", "90.00", exec_id="E" * 300)
    assert intake.receive("paper", bad) == "dead"
    assert intake.receive("paper", bad) == "dead"  # redelivered: the same dead letter, tried again
    record = ExecutionReportRecord.objects.get(status="dead")
    assert record.exec_id.startswith("invalid:") and record.attempts == 2
    assert "exec id must be 1 to 128 characters" in record.error
    assert record.payload["exec_id"] == "E" * 300  # what the venue sent, kept for staff
    assert list(dead_letter_list().values_list("pk", flat=True)) == [record.pk]
    assert not Fill.objects.exists()


def test_any_failure_in_the_intake_is_dead_lettered_not_dropped(rich, instrument, actor):
    order = at_venue(buy(actor, rich))

    def explode(point: str) -> None:
        if point == "intake.report.before_commit":
            raise RuntimeError("a bug between booking and commit")

    with faults.injecting(explode):
        outcome = intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "2", "90.00", exec_id="boom"))
    assert outcome == "dead"
    record = ExecutionReportRecord.objects.get(exec_id="boom")
    assert (record.status, record.error) == ("dead", "RuntimeError: a bug between booking and commit")
    assert not Fill.objects.exists()  # the booking rolled back with the failure
    assert intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "2", "90.00", exec_id="boom")) == "applied"
    assert Fill.objects.get().exec_id == "boom"  # redelivered once the cause is gone: booked once
    assert_books_agree(rich, order)


# --- Defect 4: a dead letter was final ---------------------------------------------------------------


def test_a_dead_letter_is_replayed_by_staff_once_with_a_reason(rich, instrument, actor):
    order = at_venue(buy(actor, rich))
    early = report(order, ExecType.FILL, "12", "90.00", exec_id="early")  # 12 of 10: the replace is not in yet
    assert intake.receive("paper", early) == "dead"
    order_replace(actor=actor, order_id=order.pk, quantity="12")
    replaced = report(order, ExecType.REPLACED, request_id=request_of(order, "replace"), quantity=Decimal(12))
    assert intake.receive("paper", replaced) == "applied"
    record = ExecutionReportRecord.objects.get(exec_id="early")
    for reason in ("", "   "):
        with pytest.raises(ApplicationError) as refused:
            intake.report_replay(actor=actor, record_id=record.pk, reason=reason)
        assert refused.value.code == "invalid"
    replay = intake.report_replay(actor=actor, record_id=record.pk, reason="replace confirmed since (ticket 7)")
    assert (replay.outcome, replay.actor_id, replay.reason) == (
        "applied",
        actor.pk,
        "replace confirmed since (ticket 7)",
    )
    record.refresh_from_db()
    assert (record.status, record.attempts) == ("applied", 2)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", 12)
    with pytest.raises(ApplicationError) as again:
        intake.report_replay(actor=actor, record_id=record.pk, reason="once more")
    assert again.value.code == "report_not_dead"
    assert ReportReplay.objects.count() == 1 and Fill.objects.count() == 1
    assert intake.receive("paper", early) == "duplicate"
    assert_books_agree(rich, order)


def test_a_replay_that_still_fails_stays_dead_and_is_recorded(rich, instrument, actor):
    order = at_venue(buy(actor, rich))
    assert intake.receive("paper", report(order, ExecType.FILL, "12", "90.00", exec_id="over")) == "dead"
    record = ExecutionReportRecord.objects.get(exec_id="over")
    replay = intake.report_replay(actor=actor, record_id=record.pk, reason="try again")
    assert replay.outcome == "dead" and replay.error.startswith("overfill")
    record.refresh_from_db()
    assert (record.status, record.attempts) == ("dead", 2)
    assert not Fill.objects.exists()


# --- Defect 8: rounding -----------------------------------------------------------------------------


@pytest.fixture
def fine(actor):
    """A fine-grained instrument: prices on a 0.0001 tick make notionals that need rounding."""
    inst = instrument_create(actor=actor, symbol="FINE", name="Fine", currency="USD", tick_size="0.0001", lot_size="1")
    reference_price_set(actor=actor, instrument=inst, price="10.0005")
    return inst


def test_cost_basis_and_realized_pnl_equal_the_cash_the_ledger_moved(rich, fine, actor):
    order = at_venue(buy(actor, rich, quantity="3", limit="10.0005", symbol="FINE"))
    intake.receive("paper", report(order, ExecType.FILL, "3", "10.0005", "0.01"))  # 30.0015 -> 30.00 in cash
    sell = order_place(
        actor=actor,
        account=rich,
        symbol="FINE",
        side="sell",
        type="limit",
        quantity="2",
        limit_price="10.0035",
        time_in_force="gtc",
    )
    at_venue(sell)
    intake.receive("paper", report(sell, ExecType.FILL, "2", "10.0035", "0.01"))  # 20.007 -> 20.01
    position = Position.objects.get(account=rich, instrument=fine)
    cash = LedgerAccount.objects.filter(
        trading_account=rich, purpose__in=[Purpose.CASH_AVAILABLE, Purpose.CASH_RESERVED], asset__code="USD"
    )
    fill_cash = sum(
        JournalEntry.objects.filter(transaction__fill__order__in=[order, sell], ledger_account__in=cash).values_list(
            "amount", flat=True
        )
    )
    assert fill_cash == Decimal("-30.01") + Decimal("20.00")
    assert position.realized_pnl - position.cost_basis == fill_cash
    assert position.cost_basis == Decimal("10.00333333")  # 30.01 less the 20.00666667 the sale removed


def test_a_market_buy_holds_exactly_what_risk_approved(rich, fine, actor):
    order = buy(actor, rich, quantity="7", symbol="FINE", type="market", tif="day")
    decided = order.events.get(kind="risk_accepted").data
    checks = {c["code"]: c for c in decided["checks"]}
    assert order.hold.amount == Decimal(checks["insufficient_buying_power"]["value"])
    assert order.price_estimate == Decimal(decided["price_estimate"])
    assert order.hold.remaining == hold_needed(order)
    at_venue(order)
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "3", "10.0006", "0.02"))
    assert_books_agree(rich, order)
