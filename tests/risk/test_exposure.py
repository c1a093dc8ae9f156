"""Intraday mark-to-market (``apps.orders.marking``): the exposure snapshots' figures against the
ledger and the positions, daily P&L against the business day's baseline, and the limits it
enforces: reducing only, then halted, through the kill switch, with a compliance alert, once.
Real PostgreSQL, the real placing and fill path."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.compliance.models import AlertKind, ComplianceAlert
from apps.core.errors import ValidationError
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.calendar import last_close
from apps.orders.marking import mark_to_market
from apps.orders.models import Order, Position
from apps.orders.placement import order_place
from apps.risk.exposure import STRICTNESS
from apps.risk.models import ExposureSnapshot, TradingState
from apps.risk.selectors import effective_limits, exposure_snapshot_latest, exposure_snapshot_series
from apps.risk.services import risk_limits_set, trading_state_set
from tests.conftest import balance
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)


def deposit(account: Any, actor: Any, amount: str) -> Any:
    ledger.cash_deposit(
        actor=actor, trading_account=account, currency="USD", amount=amount, idempotency_key=f"x-{next(_ids)}"
    )
    return account


def buy(actor: Any, account: Any, symbol: str, quantity: str, price: str, **extra: Any) -> Order:
    order = order_place(
        actor=actor,
        account=account,
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=price,
        time_in_force="gtc",
        **extra,
    )
    assert order.status == "pending_new", order.reject_reason
    return order


def fill(order: Order, quantity: str, price: str, commission: str | None = None) -> None:
    report = ExecutionReport(
        exec_id=f"mtm-{next(_ids)}",
        order_id=order.pk,
        exec_type=ExecType.FILL,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(quantity),
        last_price=Decimal(price),
        **({"commission": Decimal(commission)} if commission is not None else {}),
    )
    assert intake.receive("paper", report) == "applied"


def own(actor: Any, account: Any, symbol: str, quantity: str, price: str) -> None:
    fill(buy(actor, account, symbol, quantity, price), quantity, price)


def price(actor: Any, instrument: Any, value: str) -> None:
    reference_price_set(actor=actor, instrument=instrument, price=value)


def latest(account: Any) -> ExposureSnapshot:
    row = exposure_snapshot_latest(account.pk if account is not None else None)
    assert row is not None
    return row


def state_of(account: Any = None) -> TradingState | None:
    return TradingState.objects.filter(account=account, scope="account" if account else "global").first()


@pytest.fixture
def other(actor):  # type: ignore[no-untyped-def]
    inst = instrument_create(actor=actor, symbol="OTHR", name="Other", currency="USD", tick_size="0.01", lot_size="1")
    reference_price_set(actor=actor, instrument=inst, price="50.00")
    inst.refresh_from_db()
    return inst


# --- the figures -----------------------------------------------------------------------------------


def test_snapshot_figures_match_the_ledger_and_the_positions(account, actor, instrument, other):
    deposit(account, actor, "100000")
    own(actor, account, "ACME", "100", "100.00")  # 10,000.00
    own(actor, account, "OTHR", "40", "50.00")  # 2,000.00
    sell = order_place(
        actor=actor, account=account, symbol="OTHR", side="sell", type="limit", quantity="10", limit_price="55.00"
    )
    fill(sell, "10", "55.00")  # realizes 10 x (55 - 50) = 50.00
    buy(actor, account, "ACME", "5", "90.00")  # open: its hold is reserved cash, still the account's cash
    price(actor, instrument, "112.34")
    price(actor, other, "47.50")
    idle = TradingAccountFactory()  # no cash, no position: not marked

    result = mark_to_market(actor=actor)

    row = latest(account)
    cash = balance(account) + balance(account, "cash_reserved")
    assert balance(account, "cash_reserved") > 0
    assert row.cash == cash
    positions = {p.instrument.symbol: p for p in Position.objects.select_related("instrument").filter(account=account)}
    acme, othr = positions["ACME"], positions["OTHR"]
    acme_mv, othr_mv = Decimal("11234.00"), Decimal("1425.00")  # 100 x 112.34, 30 x 47.50
    assert row.market_value == acme_mv + othr_mv
    assert row.cost_basis == acme.cost_basis + othr.cost_basis
    assert row.unrealized_pnl == acme_mv + othr_mv - acme.cost_basis - othr.cost_basis
    assert row.realized_pnl == acme.realized_pnl + othr.realized_pnl == Decimal("50")
    assert row.equity == cash + acme_mv + othr_mv
    assert row.gross_exposure == acme_mv + othr_mv
    assert row.concentration_percent == (acme_mv * 100 / row.equity).quantize(Decimal("0.00000001"))
    assert row.daily_pnl == row.realized_pnl + row.unrealized_pnl  # no earlier snapshot: baseline 0
    assert [(line["symbol"], Decimal(line["market_value"])) for line in row.lines] == [
        ("ACME", acme_mv),
        ("OTHR", othr_mv),
    ]
    assert row.currency == "USD" and row.taken_at == result.taken_at

    firm = latest(None)
    accounts = [r for r in result.snapshots if r.account_id is not None]
    assert idle.pk not in {r.account_id for r in accounts}
    assert result.snapshots[-1] == firm and firm.taken_at == result.taken_at
    for name in ("cash", "market_value", "unrealized_pnl", "realized_pnl", "equity", "gross_exposure", "daily_pnl"):
        assert getattr(firm, name) == sum(getattr(r, name) for r in accounts), name
    assert result.breaches == []


def test_daily_pnl_is_measured_from_the_last_snapshot_before_the_business_day(account, actor, instrument):
    deposit(account, actor, "100000")
    own(actor, account, "ACME", "10", "100.00")
    now = timezone.now()
    day_start = last_close(now)
    assert day_start is not None
    zero = {name: Decimal(0) for name in ("cash", "market_value", "cost_basis", "equity", "gross_exposure")}
    ExposureSnapshot.objects.bulk_create(
        [
            # the baseline: the last one before the day began (total P&L 30 + -130 = -100)
            ExposureSnapshot(
                account=account,
                taken_at=day_start - timedelta(minutes=1),
                realized_pnl=Decimal(30),
                unrealized_pnl=Decimal(-130),
                daily_pnl=0,
                **zero,
            ),
            ExposureSnapshot(
                account=account,
                taken_at=day_start - timedelta(days=1),
                realized_pnl=0,
                unrealized_pnl=0,
                daily_pnl=0,
                **zero,
            ),
            # taken today: not a baseline
            ExposureSnapshot(
                account=account, taken_at=day_start, realized_pnl=0, unrealized_pnl=Decimal(999), daily_pnl=0, **zero
            ),
        ]
    )
    price(actor, instrument, "97.00")
    mark_to_market(actor=actor, now=now)
    row = latest(account)
    assert row.unrealized_pnl == Decimal("-30")
    assert row.daily_pnl == Decimal("-30") - Decimal("-100")
    series = list(exposure_snapshot_series(account.pk, day_start - timedelta(days=2), now + timedelta(seconds=1)))
    assert [r.taken_at for r in series] == sorted(r.taken_at for r in series) and len(series) == 4


def test_snapshots_are_append_only(account, actor):
    deposit(account, actor, "10")
    mark_to_market(actor=actor)
    row = latest(account)
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE risk_exposuresnapshot SET equity = 0 WHERE id = %s", [row.pk])
    with pytest.raises(DatabaseError, match="Cannot delete"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM risk_exposuresnapshot WHERE id = %s", [row.pk])
    assert latest(account).equity == Decimal("10")


# --- the limits ----------------------------------------------------------------------------------


def test_daily_loss_moves_the_account_to_reducing_then_halted_with_one_alert_each(account, actor, instrument):
    deposit(account, actor, "100000")
    own(actor, account, "ACME", "100", "100.00")  # cost 10,000.00
    working = buy(actor, account, "ACME", "1", "95.00")
    bystander = deposit(TradingAccountFactory(), actor, "5000")
    risk_limits_set(actor=actor, account=account, daily_loss_limit=Decimal(1000), daily_loss_halt_limit=Decimal(3000))

    price(actor, instrument, "89.50")  # -1,050.00
    result = mark_to_market(actor=actor)
    assert [b.code for b in result.breaches] == ["daily_loss_limit"]
    state = state_of(account)
    assert state is not None and state.state == "reducing"
    assert state.reason == "daily_loss_limit: daily P&L -1,050.00 USD beyond -1,000.00"
    assert state.updated_by == actor
    alert = ComplianceAlert.objects.get()
    assert (alert.kind, alert.severity) == (AlertKind.RISK_LIMIT_BREACHED, "warning")
    assert alert.summary == f"account {account.pk} set to reducing: {state.reason}"
    assert Decimal(alert.details["daily_pnl"]) == Decimal("-1050")
    assert Decimal(alert.details["limit"]) == Decimal("-1000")
    assert alert.details["snapshot"] == latest(account).pk
    assert Order.objects.get(pk=working.pk).status == "pending_new"  # reducing cancels nothing
    assert state_of(bystander) is None

    # idempotent: the next run finds it already reducing and writes nothing
    again = mark_to_market(actor=actor)
    assert again.breaches == []
    assert TradingState.objects.get(pk=state.pk).updated_at == state.updated_at
    assert ComplianceAlert.objects.count() == 1

    price(actor, instrument, "69.00")  # -3,100.00: beyond the halt limit
    result = mark_to_market(actor=actor)
    assert [b.code for b in result.breaches] == ["daily_loss_halt"]
    state.refresh_from_db()
    assert state.state == "halted"
    assert state.reason == "daily_loss_halt: daily P&L -3,100.00 USD beyond -3,000.00"
    halt = ComplianceAlert.objects.filter(severity="critical").get()
    assert halt.details["state"] == "halted" and halt.details["breaches"] == ["daily_loss_halt"]
    assert Order.objects.get(pk=working.pk).status in ("pending_cancel", "canceled")  # the halt cancels

    # a halted account is never downgraded to reducing by a smaller loss
    price(actor, instrument, "88.00")  # -1,200.00: the reducing limit only
    assert mark_to_market(actor=actor).breaches == []
    state.refresh_from_db()
    assert state.state == "halted"
    assert ComplianceAlert.objects.count() == 2


def test_a_state_set_by_staff_is_not_downgraded_or_rewritten(account, actor, instrument):
    deposit(account, actor, "100000")
    own(actor, account, "ACME", "10", "100.00")
    risk_limits_set(actor=actor, account=account, daily_loss_limit=Decimal(10))
    staff = trading_state_set(actor=actor, state="halted", reason="compliance review", account=account)
    price(actor, instrument, "90.00")
    assert mark_to_market(actor=actor).breaches == []
    staff.refresh_from_db()
    assert (staff.state, staff.reason) == ("halted", "compliance review")
    assert not ComplianceAlert.objects.exists()


def test_concentration_and_gross_exposure(account, actor, instrument):
    deposit(account, actor, "10000")
    own(actor, account, "ACME", "60", "100.00")  # 6,000 of 10,000 equity: 60%
    risk_limits_set(actor=actor, account=account, max_concentration_percent=Decimal("50.00"))
    risk_limits_set(actor=actor, max_gross_exposure=Decimal("5999.99"))
    result = mark_to_market(actor=actor)
    assert sorted((b.code, b.account_id) for b in result.breaches) == [
        ("max_concentration", account.pk),
        ("max_gross_exposure", None),
    ]
    mine, firm = state_of(account), state_of()
    assert mine is not None and mine.state == "reducing"
    assert mine.reason == "max_concentration: largest position 60.00% of equity beyond 50.00%"
    assert firm is not None and firm.state == "reducing"
    assert firm.reason == "max_gross_exposure: gross exposure 6,000.00 USD beyond 5,999.99"
    assert ComplianceAlert.objects.filter(kind=AlertKind.RISK_LIMIT_BREACHED).count() == 2
    # the pre-trade checks see the same limits: a buy is refused, a reducing sell is not
    trading_state_set(actor=actor, state="active", reason="reviewed", account=account)
    trading_state_set(actor=actor, state="active", reason="reviewed")
    refused = order_place(
        actor=actor, account=account, symbol="ACME", side="buy", type="limit", quantity="1", limit_price="100.00"
    )
    assert (refused.status, refused.reject_reason) == ("rejected", "max_concentration")
    sell = order_place(
        actor=actor, account=account, symbol="ACME", side="sell", type="limit", quantity="1", limit_price="100.00"
    )
    assert sell.status == "pending_new"


def test_the_strictness_order():
    assert STRICTNESS["active"] < STRICTNESS["reducing"] < STRICTNESS["halted"]


# --- the new limits ------------------------------------------------------------------------------


def test_gross_exposure_is_a_firm_limit_and_loss_limits_are_positive(actor, account):
    with pytest.raises(ValidationError) as raised:
        risk_limits_set(actor=actor, account=account, max_gross_exposure=Decimal(1))
    assert raised.value.code == "invalid_limit"
    for name in ("daily_loss_limit", "daily_loss_halt_limit"):
        with pytest.raises(ValidationError):
            risk_limits_set(actor=actor, account=account, **{name: 0})
    with pytest.raises(ValidationError):
        risk_limits_set(actor=actor, account=account, daily_loss_limit=Decimal(10), daily_loss_halt_limit=Decimal(5))
    risk_limits_set(actor=actor, max_gross_exposure=Decimal(7))
    risk_limits_set(actor=actor, account=account, max_concentration_percent=Decimal("12.50"))
    limits = effective_limits(account_id=account.pk)
    assert (limits["max_gross_exposure"], limits["max_concentration_percent"]) == (Decimal(7), Decimal("12.50"))
