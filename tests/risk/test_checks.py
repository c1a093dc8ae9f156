"""Pre-trade risk through the real placing service (``apps.orders.placement.order_place``) on
real PostgreSQL: every reason code ``apps/risk/checks.py`` produces is shown to reject (the
order is stored ``rejected`` with that code, its ``risk_rejected`` event lists every check
evaluated with the failing one ``passed=False``, and nothing moved: no hold, no outbox
instruction, no balance changed), and a good order right at the limit is shown to pass.

The world: ACME (tick 0.01, lot 1, reference 100.00 now), the firm defaults created by the
risk migration (collar 10%, price age 3600 s, ...), and an account with 100,000.00 USD.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.accounts.services import trading_account_set_status
from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.core.errors import ApplicationError
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import Hold, JournalTransaction, LedgerAccount
from apps.ledger.verification import verify
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from apps.risk import checks
from apps.risk.defaults import FIRM_DEFAULT_LIMITS
from apps.risk.models import LIMIT_FIELDS, ExposureSnapshot, RiskLimits
from apps.risk.services import restricted_instrument_add, restricted_instrument_remove, risk_limits_set
from apps.risk.services import trading_state_set as _trading_state_set
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)

# --- order terms -------------------------------------------------------------------------------


def limit(side: str = "buy", quantity: str = "10", price: str = "100.00", symbol: str = "ACME") -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "type": "limit", "quantity": quantity, "limit_price": price}


def market(side: str = "buy", quantity: str = "10", symbol: str = "ACME") -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "type": "market", "quantity": quantity}


def stop(side: str = "buy", quantity: str = "10", stop_price: str = "105.00") -> dict[str, Any]:
    return {"symbol": "ACME", "side": side, "type": "stop", "quantity": quantity, "stop_price": stop_price}


def stop_limit(side: str = "buy", quantity: str = "10", stop_price: str = "105.00", price: str = "106.00"):
    return {**stop(side, quantity, stop_price), "type": "stop_limit", "limit_price": price}


# --- the checks a given order is evaluated against, in their documented order --------------------

BASE_CHECKS = [
    "trading_halted",
    "trading_reducing",
    "account_not_open",
    "instrument_inactive",
    "instrument_restricted",
    "limits_missing",
]


def expected_checks(terms: dict[str, Any], *, reference: bool = True, missing: tuple[str, ...] = ()) -> list[str]:
    """Every check recorded for ``terms``: the kill switch, account and instrument, limits present,
    the reference price (and the collar for each price the order carries), the caps whose limit
    is set (the notional ones only when there is a price estimate), then cash or shares."""
    codes = list(BASE_CHECKS)
    collar = "price_collar_percent" not in missing
    prices = [terms.get("limit_price"), terms.get("stop_price")]
    if reference:
        codes.append("stale_reference_price")
        if collar:
            codes += ["price_collar" for p in prices if p is not None]
    else:
        codes.append("no_reference_price")
    estimate = terms.get("limit_price") is not None or (reference and collar)
    caps = [("max_order_quantity", "max_order_quantity")]
    if estimate:
        caps += [("max_order_notional", "max_order_notional"), ("max_daily_notional", "max_daily_notional")]
    if terms["side"] == "buy":
        caps.append(("max_position", "max_position_quantity"))
    caps += [("max_open_orders", "max_open_orders"), ("order_rate", "max_orders_per_second")]
    codes += [code for code, limit_name in caps if limit_name not in missing]
    codes.append("insufficient_buying_power" if terms["side"] == "buy" else "insufficient_position")
    exposure = [("daily_loss_limit", "daily_loss_limit")]
    if estimate and terms["side"] == "buy":
        exposure += [("max_concentration", "max_concentration_percent"), ("max_gross_exposure", "max_gross_exposure")]
    codes += [code for code, limit_name in exposure if limit_name not in missing]
    return codes


# --- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    actor: Any
    account: Any  # 100,000.00 USD available
    instrument: Any  # ACME

    def place(self, terms: dict[str, Any], account: Any = None, **extra: Any) -> Order:
        return order_place(actor=self.actor, account=account or self.account, time_in_force="day", **terms, **extra)

    def accepted(self, terms: dict[str, Any], account: Any = None) -> Order:
        order = self.place(terms, account)
        assert order.status == "pending_new", (order.reject_reason, order.reject_detail)
        return order

    def state(self, state: str, **target: Any) -> None:
        _trading_state_set(actor=self.actor, state=state, reason="risk test", **target)

    def limits(self, account: Any = None, **limits: Any) -> None:
        risk_limits_set(actor=self.actor, account=account, **limits)

    def new_account(self, cash: str | None = None) -> Any:
        account = TradingAccountFactory()
        if cash is not None:
            ledger.cash_deposit(
                actor=self.actor,
                trading_account=account,
                currency="USD",
                amount=cash,
                idempotency_key=f"fund-{account.pk}",
            )
        return account

    def new_instrument(self, symbol: str, *, active: bool = True, price: str | None = "100.00") -> Any:
        inst = instrument_create(
            actor=self.actor, symbol=symbol, name=symbol, currency="USD", tick_size="0.01", lot_size="1", active=active
        )
        if price is not None:
            reference_price_set(actor=self.actor, instrument=inst, price=price)
        return inst

    def price_age(self, seconds: int) -> None:
        reference_price_set(
            actor=self.actor,
            instrument=self.instrument,
            price="100.00",
            as_of=timezone.now() - timedelta(seconds=seconds),
        )

    def give_shares(self, quantity: str, account: Any = None) -> None:
        """Buy ``quantity`` ACME at 100.00 and book the broker's fill (no commission)."""
        order = self.accepted(limit("buy", quantity), account)
        fill = ExecutionReport(
            exec_id=f"risk-fill-{next(_ids)}",
            order_id=order.pk,
            exec_type=ExecType.FILL,
            broker_order_id=f"B{order.pk}",
            last_quantity=Decimal(quantity),
            last_price=Decimal("100.00"),
        )
        assert intake.receive("paper", fill) == "applied"


@pytest.fixture
def world(account, actor, instrument) -> World:
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="100000", idempotency_key="w")
    return World(actor=actor, account=account, instrument=instrument)


# --- evidence -------------------------------------------------------------------------------------


def snapshot(account: Any) -> dict[Any, Any]:
    """What a rejected order must not change: the account's balances, holds, postings, outbox."""
    rows = LedgerAccount.objects.filter(trading_account=account).values_list("id", "balance")
    balances = {pk: amount for pk, amount in rows if amount}  # placing opens empty position accounts
    return {
        "balances": balances,
        "holds": Hold.objects.count(),
        "transactions": JournalTransaction.objects.count(),
        "instructions": OrderInstruction.objects.count(),
    }


def balance_of(account: Any, purpose: str, code: str) -> Decimal:
    row = LedgerAccount.objects.filter(trading_account=account, purpose=purpose, asset__code=code).first()
    return row.balance if row else Decimal(0)


def decision(order: Order, kind: str) -> dict[str, Any]:
    events = list(order.events.order_by("id"))
    assert [e.kind for e in events] == ["received", kind]
    assert events[0].status_after == "pending_new"
    assert events[1].status_after == order.status
    return events[1].data


def assert_rejected(order: Order, code: str, before: dict[Any, Any], *, checks: list[str], failing: list[str]) -> None:
    stored = Order.objects.get(pk=order.pk)
    assert (order.status, order.reject_reason) == ("rejected", code)
    assert (stored.status, stored.reject_reason) == ("rejected", code)
    assert stored.reject_detail
    assert stored.hold_id is None and stored.broker == "" and stored.notional_estimate == 0
    data = decision(stored, "risk_rejected")
    assert [c["code"] for c in data["checks"]] == checks, "every check is evaluated and recorded, in order"
    assert [c["code"] for c in data["checks"] if not c["passed"]] == failing
    assert failing[0] == code, "the order is rejected with the first failed check"
    assert not OrderInstruction.objects.filter(order=stored).exists()
    assert snapshot(order.account) == before, "a rejection holds, posts and queues nothing"


def assert_accepted(order: Order, *, checks: list[str], hold: Decimal | None = None) -> None:
    stored = Order.objects.select_related("hold").get(pk=order.pk)
    assert (stored.status, stored.reject_reason) == ("pending_new", ""), stored.reject_detail
    data = decision(stored, "risk_accepted")
    assert [c["code"] for c in data["checks"]] == checks
    assert all(c["passed"] for c in data["checks"]), data["checks"]
    assert stored.hold is not None and stored.hold.status == "active"
    if hold is not None:
        assert stored.hold.amount == stored.hold.remaining == hold
    assert OrderInstruction.objects.filter(order=stored, action="submit", status="pending").count() == 1


# --- every reason code rejects ---------------------------------------------------------------------

Setup = Callable[[World], Any]


@dataclass
class Case:
    id: str
    code: str
    terms: dict[str, Any]
    setup: Setup = lambda w: None
    also_failing: tuple[str, ...] = ()
    reference: bool = True
    missing: tuple[str, ...] = ()
    hold: str | None = None  # for the passing cases


def _halt_everything_but(w: World) -> None:
    other_account, other_instrument = w.new_account(), w.new_instrument("OTHER")
    w.state("halted", account=other_account)
    w.state("halted", instrument=other_instrument)
    w.state("active")  # an explicit "active" row is the same as no row


def _shares_then(state: str, **target_of: Callable[[World], Any]) -> Setup:
    def setup(w: World) -> None:
        w.give_shares("10")
        w.state(state, **{name: get(w) for name, get in target_of.items()})

    return setup


def _clear_firm(*names: str) -> Setup:
    return lambda w: w.limits(**dict.fromkeys(names))


def _account(cash: str) -> Setup:
    return lambda w: w.new_account(cash)  # the order under test is placed for this account


def _place_first(*terms: dict[str, Any]) -> Callable[[World], None]:
    def setup(w: World) -> None:
        for t in terms:
            w.accepted(t)

    return setup


def _marked(daily_pnl: str = "0", equity: str = "100000", *, firm_gross: str | None = None) -> Setup:
    """A mark-to-market snapshot of the account taken now (and of the firm, with its gross exposure)."""

    def setup(w: World) -> None:
        now = timezone.now()
        figures = {name: Decimal(0) for name in ("cash", "market_value", "cost_basis", "unrealized_pnl")}
        rows = [
            ExposureSnapshot(
                account=w.account,
                taken_at=now,
                currency="USD",
                **figures,
                realized_pnl=Decimal(daily_pnl),
                equity=Decimal(equity),
                gross_exposure=Decimal(0),
                daily_pnl=Decimal(daily_pnl),
            )
        ]
        if firm_gross is not None:
            rows.append(
                ExposureSnapshot(
                    account=None,
                    taken_at=now,
                    **figures,
                    realized_pnl=Decimal(0),
                    equity=Decimal(equity),
                    gross_exposure=Decimal(firm_gross),
                    daily_pnl=Decimal(0),
                )
            )
        ExposureSnapshot.objects.bulk_create(rows)

    return setup


def _then(*steps: Setup) -> Setup:
    def setup(w: World) -> None:
        for step in steps:
            step(w)

    return setup


ACCOUNT: Callable[[World], Any] = lambda w: w.account  # noqa: E731
INSTRUMENT: Callable[[World], Any] = lambda w: w.instrument  # noqa: E731

REJECTIONS = [
    # 1. the kill switch, at each level
    Case("halted-global", "trading_halted", limit(), lambda w: w.state("halted")),
    Case("halted-account", "trading_halted", limit(), lambda w: w.state("halted", account=w.account)),
    Case("halted-instrument", "trading_halted", limit(), lambda w: w.state("halted", instrument=w.instrument)),
    Case("halted-sell-too", "trading_halted", limit("sell", "5"), _shares_then("halted")),
    Case("reducing-global-buy", "trading_reducing", limit(), _shares_then("reducing")),
    Case("reducing-account-buy", "trading_reducing", limit(), _shares_then("reducing", account=ACCOUNT)),
    Case("reducing-instrument-buy", "trading_reducing", limit(), _shares_then("reducing", instrument=INSTRUMENT)),
    Case(
        "reducing-sell-beyond-the-position",
        "trading_reducing",
        limit("sell", "11"),
        _shares_then("reducing", account=ACCOUNT),
        also_failing=("insufficient_position",),
    ),
    # 2. account and instrument
    Case(
        "account-restricted",
        "account_not_open",
        limit(),
        lambda w: trading_account_set_status(actor=w.actor, account=w.account, status="restricted"),
    ),
    Case(
        "account-closed",
        "account_not_open",
        limit(),
        lambda w: trading_account_set_status(actor=w.actor, account=w.account, status="closed"),
    ),
    Case(
        "instrument-inactive",
        "instrument_inactive",
        limit(symbol="DEAD"),
        lambda w: w.new_instrument("DEAD", active=False),
    ),
    Case(
        "restricted-firm-wide",
        "instrument_restricted",
        limit(),
        lambda w: restricted_instrument_add(actor=w.actor, instrument=w.instrument, reason="watch list"),
    ),
    Case(
        "restricted-for-the-account",
        "instrument_restricted",
        limit(),
        lambda w: restricted_instrument_add(
            actor=w.actor, instrument=w.instrument, account=w.account, reason="insider"
        ),
    ),
    # 3. limits must exist: a cleared firm default with no account override fails closed
    Case(
        "limit-missing",
        "limits_missing",
        limit(),
        _clear_firm("max_order_quantity"),
        missing=("max_order_quantity",),
    ),
    Case(
        "limit-missing-account-row-empty-too",
        "limits_missing",
        limit(),
        _then(_clear_firm("max_open_orders"), lambda w: w.limits(w.account, max_open_orders=None)),
        missing=("max_open_orders",),
    ),
    Case(
        "every-limit-missing-market",
        "limits_missing",
        market(),
        _clear_firm(*LIMIT_FIELDS),
        missing=LIMIT_FIELDS,
        # no price age: the reference cannot be fresh; no collar: no price to estimate the cost
        also_failing=("stale_reference_price", "insufficient_buying_power"),
    ),
    # 4. the reference price
    Case(
        "no-reference-limit",
        "no_reference_price",
        limit(symbol="NOREF"),
        lambda w: w.new_instrument("NOREF", price=None),
        reference=False,
    ),
    Case(
        "no-reference-market",
        "no_reference_price",
        market(symbol="NOREF"),
        lambda w: w.new_instrument("NOREF", price=None),
        reference=False,
        also_failing=("insufficient_buying_power",),  # no price to estimate the cost
    ),
    Case("stale-market", "stale_reference_price", market(), lambda w: w.price_age(3601)),
    Case("stale-stop", "stale_reference_price", stop(), lambda w: w.price_age(3601)),
    Case("stale-stop-limit", "stale_reference_price", stop_limit(), lambda w: w.price_age(3601)),
    Case(
        "stale-market-account-override",
        "stale_reference_price",
        market(),
        _then(lambda w: w.limits(w.account, max_price_age_seconds=60), lambda w: w.price_age(61)),
    ),
    Case("collar-limit-above", "price_collar", limit(price="110.01")),
    Case("collar-limit-below", "price_collar", limit(price="89.99")),
    Case("collar-stop-above", "price_collar", stop(stop_price="110.01")),
    Case("collar-stop-below", "price_collar", stop("buy", stop_price="89.99")),
    Case("collar-stop-limit-stop", "price_collar", stop_limit(stop_price="110.01", price="105.00")),
    Case(
        "collar-account-override",
        "price_collar",
        limit(price="105.01"),
        lambda w: w.limits(w.account, price_collar_percent=Decimal("5.00")),
    ),
    # 6. size, position, activity
    Case(
        "order-quantity",
        "max_order_quantity",
        limit(quantity="11"),
        lambda w: w.limits(w.account, max_order_quantity=Decimal(10)),
    ),
    Case(
        "order-notional-limit",
        "max_order_notional",
        limit(price="100.01"),  # 1,000.10
        lambda w: w.limits(w.account, max_order_notional=Decimal(1000)),
    ),
    Case(
        "order-notional-market-at-the-collar",
        "max_order_notional",
        market(),  # estimated at 110.00: 1,100.00
        lambda w: w.limits(w.account, max_order_notional=Decimal("1099.99")),
    ),
    Case(
        "daily-notional",
        "max_daily_notional",
        limit(quantity="1"),  # 2,000.00 already today + 100.00
        _then(lambda w: w.limits(w.account, max_daily_notional=Decimal(2000)), _place_first(limit(), limit())),
    ),
    Case(
        "position-held-plus-open-buys",
        "max_position",
        limit(quantity="1"),  # 10 held + 10 on order + 1
        _then(
            lambda w: w.give_shares("10"),
            lambda w: w.limits(w.account, max_position_quantity=Decimal(20)),
            _place_first(limit()),
        ),
    ),
    Case(
        "open-orders",
        "max_open_orders",
        limit(quantity="1"),
        _then(lambda w: w.limits(w.account, max_open_orders=2), _place_first(limit("buy", "1"), limit("buy", "1"))),
    ),
    Case(
        "order-rate",
        "order_rate",
        limit(quantity="1"),
        _then(
            lambda w: w.limits(w.account, max_orders_per_second=2),
            _place_first(limit("buy", "1"), limit("buy", "1")),
        ),
    ),
    # 7. cash and shares
    Case("buying-power-limit", "insufficient_buying_power", limit(), _account("1000.99")),  # needs 1,001.00
    Case("buying-power-per-share-fee", "insufficient_buying_power", limit(quantity="300"), _account("30001.49")),
    Case("buying-power-market", "insufficient_buying_power", market(), _account("1100.99")),  # needs 1,101.00
    Case("no-shares", "insufficient_position", limit("sell", "1")),
    Case("too-few-shares", "insufficient_position", limit("sell", "11"), lambda w: w.give_shares("10")),
    Case(
        "shares-already-on-order",
        "insufficient_position",
        limit("sell", "1"),
        _then(lambda w: w.give_shares("10"), _place_first(limit("sell", "10"))),
    ),
    # 8. exposure, from the latest mark-to-market
    Case("daily-loss-at-the-limit-buy", "daily_loss_limit", limit(), _marked("-50000.00")),  # firm: 50,000
    Case(
        "daily-loss-account-override",
        "daily_loss_limit",
        limit(),
        _then(lambda w: w.limits(w.account, daily_loss_limit=Decimal(100)), _marked("-100.00")),
    ),
    Case(
        "concentration-of-cash",  # never marked: equity = cash 100,000; 60 x 100.00 is 6%
        "max_concentration",
        limit(quantity="60"),
        lambda w: w.limits(w.account, max_concentration_percent=Decimal("5.99")),
    ),
    Case(
        "concentration-of-the-marked-equity",  # 10 held + 10 on order + 10, at 100.00: 3,000 of 50,000
        "max_concentration",
        limit(),
        _then(
            lambda w: w.give_shares("10"),
            _place_first(limit()),
            _marked(equity="50000"),
            lambda w: w.limits(w.account, max_concentration_percent=Decimal("5.99")),
        ),
    ),
    Case(
        "concentration-no-equity",
        "max_concentration",
        limit(),
        _marked(equity="-1"),
        also_failing=(),
    ),
    Case(
        "gross-exposure-of-the-firm",  # 999,000 + 1,000.01 above 1,000,000
        "max_gross_exposure",
        limit(price="100.01", quantity="10"),
        _then(_marked(firm_gross="999000"), lambda w: w.limits(max_gross_exposure=Decimal(1000000))),
    ),
]


def account_for(w: World, case: Case) -> Any:
    """Run the case's setup; the order is placed for the account it returns, if any, else ours."""
    result = case.setup(w)
    return result if isinstance(result, TradingAccount) else w.account


@pytest.mark.parametrize("case", REJECTIONS, ids=[c.id for c in REJECTIONS])
def test_every_reason_code_rejects_and_stores_the_evidence(world, case):
    account = account_for(world, case)
    before = snapshot(account)
    order = world.place(case.terms, account)
    assert_rejected(
        order,
        case.code,
        before,
        checks=expected_checks(case.terms, reference=case.reference, missing=case.missing),
        failing=[case.code, *case.also_failing],
    )
    assert verify().ok


def test_the_rejections_cover_every_reason_code():
    produced = set(checks.REASON_CODES)
    tree = ast.parse(inspect.getsource(checks))
    in_code = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) in ("Check", "cap")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert in_code == produced
    assert {c.code for c in REJECTIONS} == produced


# --- a good order right at the limit passes ------------------------------------------------------


PASSES = [
    Case("halted-elsewhere-only", "trading_halted", limit(), _halt_everything_but, hold="1001.00"),
    Case(
        "reducing-global-sell-all",
        "trading_reducing",
        limit("sell", "10"),
        _shares_then("reducing"),
        hold="10",
    ),
    Case(
        "reducing-account-sell",
        "trading_reducing",
        limit("sell", "4"),
        _shares_then("reducing", account=ACCOUNT),
        hold="4",
    ),
    Case(
        "reducing-instrument-market-sell",
        "trading_reducing",
        market("sell", "10"),
        _shares_then("reducing", instrument=INSTRUMENT),
        hold="10",
    ),
    Case(
        "account-reopened",
        "account_not_open",
        limit(),
        _then(
            lambda w: trading_account_set_status(actor=w.actor, account=w.account, status="restricted"),
            lambda w: trading_account_set_status(actor=w.actor, account=w.account, status="open"),
        ),
        hold="1001.00",
    ),
    Case(
        "instrument-other-is-inactive",
        "instrument_inactive",
        limit(),
        lambda w: w.new_instrument("DEAD", active=False),
        hold="1001.00",
    ),
    Case(
        "restricted-for-another-account",
        "instrument_restricted",
        limit(),
        lambda w: restricted_instrument_add(
            actor=w.actor, instrument=w.instrument, account=w.new_account(), reason="insider"
        ),
        hold="1001.00",
    ),
    Case(
        "restriction-removed",
        "instrument_restricted",
        limit(),
        lambda w: restricted_instrument_remove(
            actor=w.actor,
            restriction_id=restricted_instrument_add(actor=w.actor, instrument=w.instrument, reason="lifted").pk,
        ),
        hold="1001.00",
    ),
    Case(
        "limit-missing-but-account-sets-it",
        "limits_missing",
        limit(),
        _then(_clear_firm("max_order_quantity"), lambda w: w.limits(w.account, max_order_quantity=Decimal(10))),
        hold="1001.00",
    ),
    Case(
        "reference-set-afterwards",
        "no_reference_price",
        limit(symbol="LATE"),
        lambda w: w.new_instrument("LATE"),
        hold="1001.00",
    ),
    Case("stale-price-limit-order", "stale_reference_price", limit(), lambda w: w.price_age(7200), hold="1001.00"),
    Case("nearly-stale-market", "stale_reference_price", market(), lambda w: w.price_age(3590), hold="1101.00"),
    Case(
        "nearly-stale-market-account-override",
        "stale_reference_price",
        market(),
        _then(lambda w: w.limits(w.account, max_price_age_seconds=60), lambda w: w.price_age(50)),
        hold="1101.00",
    ),
    Case("collar-limit-top", "price_collar", limit(price="110.00"), hold="1101.00"),
    Case("collar-limit-bottom", "price_collar", limit(price="90.00"), hold="901.00"),
    Case("collar-stop-top", "price_collar", stop(stop_price="110.00"), hold="1101.00"),
    Case("collar-stop-bottom", "price_collar", stop(stop_price="90.00"), hold="1101.00"),
    Case("collar-stop-limit", "price_collar", stop_limit(stop_price="110.00", price="90.00"), hold="901.00"),
    Case(
        "collar-account-override-top",
        "price_collar",
        limit(price="105.00"),
        lambda w: w.limits(w.account, price_collar_percent=Decimal("5.00")),
        hold="1051.00",
    ),
    Case(
        "order-quantity-at",
        "max_order_quantity",
        limit(quantity="10"),
        lambda w: w.limits(w.account, max_order_quantity=Decimal(10)),
        hold="1001.00",
    ),
    Case(
        "order-notional-at",
        "max_order_notional",
        limit(),  # 1,000.00
        lambda w: w.limits(w.account, max_order_notional=Decimal(1000)),
        hold="1001.00",
    ),
    Case(
        "order-notional-market-at",
        "max_order_notional",
        market(),
        lambda w: w.limits(w.account, max_order_notional=Decimal(1100)),
        hold="1101.00",
    ),
    Case(
        "daily-notional-at",
        "max_daily_notional",
        limit(),  # 1,000.00 today + 1,000.00
        _then(lambda w: w.limits(w.account, max_daily_notional=Decimal(2000)), _place_first(limit())),
        hold="1001.00",
    ),
    Case(
        "position-at",
        "max_position",
        limit(),  # 10 held + 10
        _then(lambda w: w.give_shares("10"), lambda w: w.limits(w.account, max_position_quantity=Decimal(20))),
        hold="1001.00",
    ),
    Case(
        "position-sells-not-capped",
        "max_position",
        limit("sell", "10"),
        _then(lambda w: w.give_shares("10"), lambda w: w.limits(w.account, max_position_quantity=Decimal(1))),
        hold="10",
    ),
    Case(
        "open-orders-at",
        "max_open_orders",
        limit(quantity="1"),
        _then(lambda w: w.limits(w.account, max_open_orders=2), _place_first(limit("buy", "1"))),
        hold="101.00",
    ),
    Case(
        "order-rate-at",
        "order_rate",
        limit(quantity="1"),
        _then(lambda w: w.limits(w.account, max_orders_per_second=2), _place_first(limit("buy", "1"))),
        hold="101.00",
    ),
    Case("buying-power-exact", "insufficient_buying_power", limit(), _account("1001.00"), hold="1001.00"),
    Case(
        "buying-power-per-share-fee-exact",
        "insufficient_buying_power",
        limit(quantity="300"),  # 30,000.00 + 300 x 0.005
        _account("30001.50"),
        hold="30001.50",
    ),
    Case("buying-power-market-exact", "insufficient_buying_power", market(), _account("1101.00"), hold="1101.00"),
    Case(
        "all-the-shares",
        "insufficient_position",
        limit("sell", "10"),
        lambda w: w.give_shares("10"),
        hold="10",
    ),
    Case(
        "the-shares-left",
        "insufficient_position",
        market("sell", "4"),
        _then(lambda w: w.give_shares("10"), _place_first(limit("sell", "6"))),
        hold="4",
    ),
    Case(
        "daily-loss-reducing-sell",
        "daily_loss_limit",
        limit("sell", "10"),
        _then(lambda w: w.give_shares("10"), _marked("-60000")),
        hold="10",
    ),
    Case("daily-loss-below-the-limit", "daily_loss_limit", limit(), _marked("-49999.99"), hold="1001.00"),
    Case(
        "daily-loss-of-yesterday",  # a snapshot from before the business day began is not today's loss
        "daily_loss_limit",
        limit(),
        lambda w: ExposureSnapshot.objects.bulk_create(
            [
                ExposureSnapshot(
                    account=w.account,
                    taken_at=timezone.now() - timedelta(days=15),
                    currency="USD",
                    cash=0,
                    market_value=0,
                    cost_basis=0,
                    unrealized_pnl=0,
                    realized_pnl=0,
                    equity=Decimal(100000),
                    gross_exposure=0,
                    daily_pnl=Decimal(-90000),
                )
            ]
        ),
        hold="1001.00",
    ),
    Case(
        "concentration-at",  # 60 x 100.00 of 100,000: 6.00%
        "max_concentration",
        limit(quantity="60"),
        lambda w: w.limits(w.account, max_concentration_percent=Decimal("6.00")),
        hold="6001.00",
    ),
    Case(
        "gross-exposure-at",
        "max_gross_exposure",
        limit(),  # 999,000 + 1,000.00
        _then(_marked(firm_gross="999000"), lambda w: w.limits(max_gross_exposure=Decimal(1000000))),
        hold="1001.00",
    ),
]


@pytest.mark.parametrize("case", PASSES, ids=[c.id for c in PASSES])
def test_a_good_order_at_the_limit_passes(world, case):
    account = account_for(world, case)
    buy = case.terms["side"] == "buy"
    asset = "USD" if buy else "ACME"
    available = balance_of(account, "cash_available" if buy else "position_available", asset)
    reserved = balance_of(account, "cash_reserved" if buy else "position_reserved", asset)

    order = world.place(case.terms, account)

    hold = Decimal(case.hold)
    assert_accepted(order, checks=expected_checks(case.terms), hold=hold)
    assert balance_of(account, "cash_available" if buy else "position_available", asset) == available - hold
    assert balance_of(account, "cash_reserved" if buy else "position_reserved", asset) == reserved + hold
    assert verify().ok


def test_the_passes_cover_every_reason_code():
    assert {c.code for c in PASSES} == {c.code for c in REJECTIONS}


# --- order of the checks, the kill switch over time, reducing, overrides ------------------------


def test_the_first_failed_check_is_the_reason_but_every_check_is_recorded(world):
    poor = world.new_account("10.00")
    world.state("halted", instrument=world.instrument)
    before = snapshot(poor)
    order = world.place(limit(price="120.00"), poor)
    assert_rejected(
        order,
        "trading_halted",
        before,
        checks=expected_checks(limit(price="120.00")),
        failing=["trading_halted", "price_collar", "insufficient_buying_power", "max_concentration"],
    )
    checks = {c["code"]: c for c in decision(order, "risk_rejected")["checks"]}
    assert checks["trading_halted"]["detail"] == "trading halted (instrument)"
    assert (checks["insufficient_buying_power"]["limit"], checks["insufficient_buying_power"]["value"]) == (
        "10.00000000",
        "1201.00",
    )


def test_halting_takes_effect_for_the_very_next_order_and_resuming_too(world):
    for scope in ({}, {"account": world.account}, {"instrument": world.instrument}):
        assert world.place(limit(quantity="1")).status == "pending_new"
        world.state("halted", **scope)
        halted = world.place(limit(quantity="1"))
        assert (halted.status, halted.reject_reason) == ("rejected", "trading_halted")
        world.state("active", **scope)
        assert world.place(limit(quantity="1")).status == "pending_new"


def test_reducing_lets_reducing_sells_through_and_rejects_buys(world):
    world.give_shares("10")
    world.state("reducing", account=world.account)
    assert world.place(limit("sell", "4")).status == "pending_new"
    assert world.place(market("sell", "6")).status == "pending_new"  # still within the position of 10
    buy = world.place(limit("buy", "1"))
    assert (buy.status, buy.reject_reason) == ("rejected", "trading_reducing")
    more = world.place(limit("sell", "1"))  # no shares left to sell: not short, not accepted
    assert (more.status, more.reject_reason) == ("rejected", "insufficient_position")
    assert balance_of(world.account, "position_reserved", "ACME") == 10


def test_account_overrides_beat_firm_defaults(world):
    other = world.new_account("100000")
    world.limits(max_order_quantity=Decimal(5))  # the firm: 5
    world.limits(world.account, max_order_quantity=Decimal(20), max_order_notional=None)  # looser, one field empty
    mine = world.place(limit(quantity="20"))
    assert mine.status == "pending_new"
    limits = decision(mine, "risk_accepted")["limits"]
    assert Decimal(limits["max_order_quantity"]) == 20
    # an empty field in the account's row falls back to the firm default
    assert Decimal(limits["max_order_notional"]) == FIRM_DEFAULT_LIMITS["max_order_notional"]
    assert world.place(limit(quantity="21")).reject_reason == "max_order_quantity"
    theirs = world.place(limit(quantity="6"), other)
    assert (theirs.status, theirs.reject_reason) == ("rejected", "max_order_quantity")
    assert Decimal(decision(theirs, "risk_rejected")["limits"]["max_order_quantity"]) == 5
    # tighter than the firm works the same way
    world.limits(world.account, max_order_quantity=Decimal(1))
    assert world.place(limit(quantity="2")).reject_reason == "max_order_quantity"
    assert world.place(limit(quantity="5"), other).status == "pending_new"


def test_firm_defaults_come_from_the_migration(world):
    firm = RiskLimits.objects.get(account=None)
    assert {name: getattr(firm, name) for name in LIMIT_FIELDS} == FIRM_DEFAULT_LIMITS
    order = world.accepted(limit())
    recorded = decision(order, "risk_accepted")["limits"]
    assert {name: Decimal(str(recorded[name])) for name in LIMIT_FIELDS} == FIRM_DEFAULT_LIMITS


# --- hold sizing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "collar", "price", "notional", "fee"),
    [
        (market(), None, "110.00", "1100.00", "1.00"),  # reference 100.00 + 10%
        (market(quantity="300"), None, "110.00", "33000.00", "1.50"),  # 300 x 0.005 above the minimum
        (market(quantity="3"), Decimal("7.50"), "107.50", "322.50", "1.00"),
        (stop(stop_price="95.00"), None, "110.00", "1100.00", "1.00"),  # a stop buy is a market buy later
        (stop_limit(stop_price="95.00", price="96.00"), None, "96.00", "960.00", "1.00"),
        (limit(quantity="201", price="99.99"), None, "99.99", "20097.99", "1.01"),  # 1.005 rounded up
    ],
    ids=["market", "market-per-share-fee", "market-account-collar", "stop", "stop-limit", "limit-fee-round-up"],
)
def test_buy_hold_is_the_notional_estimate_plus_the_commission_estimate(world, terms, collar, price, notional, fee):
    if collar is not None:
        world.limits(world.account, price_collar_percent=collar)
    order = world.place(terms)
    hold = Decimal(notional) + Decimal(fee)
    assert_accepted(order, checks=expected_checks(terms), hold=hold)
    assert order.notional_estimate == Decimal(notional)
    data = decision(order, "risk_accepted")
    assert (Decimal(data["price_estimate"]), Decimal(data["notional_estimate"]), Decimal(data["fee_estimate"])) == (
        Decimal(price),
        Decimal(notional),
        Decimal(fee),
    )
    assert balance_of(world.account, "cash_reserved", "USD") == hold
    assert balance_of(world.account, "cash_available", "USD") == Decimal(100000) - hold


def test_sell_hold_is_the_shares(world):
    world.give_shares("10")
    cash = balance_of(world.account, "cash_available", "USD")
    order = world.place(market("sell", "7"))
    assert_accepted(order, checks=expected_checks(market("sell", "7")), hold=Decimal(7))
    assert Decimal(decision(order, "risk_accepted")["price_estimate"]) == Decimal("90.00")  # reference - 10%
    assert balance_of(world.account, "position_available", "ACME") == 3
    assert balance_of(world.account, "position_reserved", "ACME") == 7
    assert balance_of(world.account, "cash_available", "USD") == cash
    assert balance_of(world.account, "cash_reserved", "USD") == 0


# --- what does not count, and what is never blocked -----------------------------------------------


def test_rejected_orders_use_no_daily_notional_but_count_towards_the_rate(world):
    world.limits(world.account, max_daily_notional=Decimal(2000))
    world.accepted(limit())  # 1,000.00
    over = world.place(limit(quantity="11"))  # 1,100.00 would make 2,100.00
    assert over.reject_reason == "max_daily_notional"
    world.accepted(limit())  # the rejected one used nothing: 2,000.00 exactly

    fresh = world.new_account("100000")
    world.limits(fresh, max_orders_per_second=2, max_order_quantity=Decimal(1))
    assert world.place(limit(quantity="2"), fresh).reject_reason == "max_order_quantity"
    world.accepted(limit(quantity="1"), fresh)
    assert world.place(limit(quantity="1"), fresh).reject_reason == "order_rate"


def test_a_closed_order_frees_its_open_order_slot(world):
    world.limits(world.account, max_open_orders=1)
    first = world.accepted(limit(quantity="1"))
    assert world.place(limit(quantity="1")).reject_reason == "max_open_orders"
    order_cancel(actor=world.actor, order_id=first.pk)
    canceled = ExecutionReport(exec_id=f"risk-cxl-{first.pk}", order_id=first.pk, exec_type=ExecType.CANCELED)
    assert intake.receive("paper", canceled) == "applied"
    assert world.place(limit(quantity="1")).status == "pending_new"


def test_cancels_are_never_blocked(world):
    orders = [world.accepted(limit(quantity="1")) for _ in range(2)]
    OrderInstruction.objects.filter(order__in=orders).update(status="done")  # at the venue
    world.state("halted")
    world.state("halted", account=world.account)
    world.state("halted", instrument=world.instrument)
    restricted_instrument_add(actor=world.actor, instrument=world.instrument, reason="blocked")
    world.limits(world.account, max_orders_per_second=1, max_open_orders=1)
    trading_account_set_status(actor=world.actor, account=world.account, status="restricted")
    for order in orders:
        canceled = order_cancel(actor=world.actor, order_id=order.pk)
        assert canceled.status == "pending_cancel"
        assert OrderInstruction.objects.filter(order=order, action="cancel").count() == 1


# --- replaces ------------------------------------------------------------------------------------


def _halt_account(w: World) -> None:
    w.state("halted", account=w.account)


@pytest.mark.parametrize(
    ("setup", "change"),
    [
        (lambda w: w.limits(w.account, max_order_quantity=Decimal(10)), {"quantity": "11"}),
        (lambda w: w.limits(w.account, max_order_notional=Decimal(1000)), {"limit_price": "100.01"}),
        (lambda w: None, {"limit_price": "110.01"}),  # outside the 10% collar
        (_halt_account, {"quantity": "20"}),
    ],
    ids=["max_order_quantity", "max_order_notional", "price_collar", "trading_halted"],
)
def test_a_replace_cannot_take_an_order_past_the_pre_trade_checks(world, setup, change):
    """Known bug: order_replace (apps/orders/services.py) runs none of the pre-trade checks, so
    a working order can be replaced past a limit, outside the collar or while trading is halted
    — anything the cash covers is sent to the broker. A replace that increases the risk must be
    held to the same checks as a new order (refused, nothing changed, nothing sent)."""
    order = world.accepted(limit())
    ack = ExecutionReport(
        exec_id=f"risk-ack-{order.pk}", order_id=order.pk, exec_type=ExecType.NEW, broker_order_id=f"B{order.pk}"
    )
    assert intake.receive("paper", ack) == "applied"
    setup(world)
    reserved = balance_of(world.account, "cash_reserved", "USD")
    with pytest.raises(ApplicationError):
        order_replace(actor=world.actor, order_id=order.pk, **change)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.quantity, stored.limit_price) == ("new", 10, Decimal("100.00"))
    assert not OrderInstruction.objects.filter(order=order, action="replace").exists()
    assert balance_of(world.account, "cash_reserved", "USD") == reserved
