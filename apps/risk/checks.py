"""The pre-trade checks: pure functions over a snapshot taken under the account's locks.

Every check is evaluated and recorded (code, passed, limit, value, detail) so the order's
timeline shows what was decided and on what basis; the order is rejected with the first
failed check in the fixed order below (the kill switch first). Fail closed: a missing limit,
a missing or stale reference price where one is needed, is a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal, localcontext
from typing import Any

from django.conf import settings

from apps.risk.models import TradingStateValue

HUNDRED = Decimal(100)
PRICE_QUANTUM = Decimal("0.00000001")  # a price estimate is stored as NUMERIC(28, 8)

#: Every reason code a pre-trade check can reject with, in the order the checks run
#: (documented in docs/risk.md; a test proves the checks produce exactly these).
REASON_CODES = (
    "trading_halted",
    "trading_reducing",
    "account_not_open",
    "instrument_inactive",
    "instrument_restricted",
    "limits_missing",
    "no_reference_price",
    "stale_reference_price",
    "price_collar",
    "max_order_quantity",
    "max_order_notional",
    "max_daily_notional",
    "max_position",
    "max_open_orders",
    "order_rate",
    "insufficient_buying_power",
    "insufficient_position",
    "daily_loss_limit",
    "max_concentration",
    "max_gross_exposure",
)


@dataclass(frozen=True)
class OrderIntent:
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the checks read, gathered under the account's balance locks."""

    account_status: str
    instrument_active: bool
    currency_scale: int
    states: dict[str, str]  # scope -> state, for the scopes that have a row
    restricted: bool
    limits: dict[str, Any]  # effective limits (account overrides firm defaults); None = missing
    reference_price: Decimal | None
    reference_at: datetime | None
    now: datetime
    cash_available: Decimal
    position_available: Decimal
    position_total: Decimal
    open_orders: int
    orders_last_second: int
    daily_notional: Decimal
    open_buy_quantity: Decimal
    # From the latest mark-to-market (apps.orders.marking): the account's equity (its latest
    # snapshot's, else its cash and positions at the reference prices now), its daily P&L in the
    # current business day (0 without a snapshot since the day began), and the firm's gross
    # exposure (its latest firm-wide snapshot's, plus the buys accepted since in this batch).
    equity: Decimal
    daily_pnl: Decimal
    firm_gross_exposure: Decimal


@dataclass(frozen=True)
class Check:
    code: str
    passed: bool
    detail: str = ""
    limit: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "passed": self.passed,
            "detail": self.detail,
            "limit": self.limit,
            "value": self.value,
        }


@dataclass
class Decision:
    checks: list[Check] = field(default_factory=list)
    price_estimate: Decimal | None = None
    notional_estimate: Decimal = Decimal(0)
    fee_estimate: Decimal = Decimal(0)
    hold_amount: Decimal = Decimal(0)

    @property
    def accepted(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)


def fee_estimate(quantity: Decimal, scale: int) -> Decimal:
    """Commission estimate for buying power: per share with a minimum (settings.RISK_FEE_ESTIMATE)."""
    schedule = settings.RISK_FEE_ESTIMATE
    fee = max(quantity * Decimal(schedule["per_share"]), Decimal(schedule["minimum"]))
    return fee.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_UP)


def buy_hold(quantity: Decimal, price: Decimal, scale: int, *, fee: Decimal) -> Decimal:
    """What a buy of ``quantity`` at ``price`` reserves: the notional rounded up to the currency's
    scale, plus ``fee`` (the commission still expected). Risk and the order's hold use this one
    formula, so a hold is never a cent short of what risk approved."""
    return money(quantity * price, scale) + fee


def money(value: Decimal, scale: int) -> Decimal:
    """A notional rounded UP to the currency's scale (what risk estimates and holds reserve)."""
    # Quantity and price each hold up to 20 integer digits, so a notional can need 40 + scale
    # digits: more than the default context's 28 (quantize would raise InvalidOperation).
    with localcontext(prec=80):
        return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_UP)


def _limit(snapshot: Snapshot, name: str) -> Any:
    return snapshot.limits.get(name)


def evaluate(intent: OrderIntent, s: Snapshot) -> Decision:  # noqa: PLR0912, PLR0915 - one flat list of checks
    d = Decision()
    add = d.checks.append
    reduces = intent.side == "sell" and intent.quantity <= s.position_total

    # 1. The kill switch, at three levels.
    states = [s.states.get(scope) for scope in ("global", "account", "instrument")]
    halted = [scope for scope, st in zip(("global", "account", "instrument"), states, strict=True) if st == "halted"]
    add(Check("trading_halted", not halted, f"trading halted ({', '.join(halted)})" if halted else ""))
    reducing = any(st == TradingStateValue.REDUCING for st in states)
    add(Check("trading_reducing", not reducing or reduces, "only orders that reduce a position" if reducing else ""))
    # 2. Account and instrument.
    add(Check("account_not_open", s.account_status == "open", f"account is {s.account_status}"))
    add(Check("instrument_inactive", s.instrument_active, "" if s.instrument_active else "instrument is inactive"))
    add(Check("instrument_restricted", not s.restricted, "on the restricted list" if s.restricted else ""))

    # 3. Limits must exist (fail closed).
    missing = [name for name, value in s.limits.items() if value is None]
    add(Check("limits_missing", not missing, f"no limit set for {', '.join(missing)}" if missing else ""))

    # 4. Reference price: needed fresh for market and stop orders, present for limit orders.
    max_age = _limit(s, "max_price_age_seconds")
    fresh = (
        s.reference_price is not None
        and s.reference_at is not None
        and max_age is not None
        and s.now - s.reference_at <= timedelta(seconds=int(max_age))
    )
    needs_fresh = intent.type in ("market", "stop", "stop_limit")
    if s.reference_price is None:
        add(Check("no_reference_price", False, "no reference price for the instrument"))
    else:
        add(
            Check(
                "stale_reference_price",
                fresh or not needs_fresh,
                f"reference price from {s.reference_at}",
                limit=f"{max_age}s",
                value=str(s.reference_price),
            )
        )
    collar = _limit(s, "price_collar_percent")
    if s.reference_price is not None and collar is not None:
        band = s.reference_price * Decimal(collar) / HUNDRED
        for label, price in (("limit", intent.limit_price), ("stop", intent.stop_price)):
            if price is not None:
                inside = abs(price - s.reference_price) <= band
                add(
                    Check(
                        "price_collar",
                        inside,
                        f"{label} price {price} vs reference {s.reference_price}",
                        limit=f"{collar}%",
                        value=str(price),
                    )
                )

    # 5. Price estimate: the limit price, else the collar-adjusted reference price.
    if intent.limit_price is not None:
        d.price_estimate = intent.limit_price
    elif s.reference_price is not None and collar is not None:
        sign = 1 if intent.side == "buy" else -1
        estimate = s.reference_price * (HUNDRED + sign * Decimal(collar)) / HUNDRED
        # Stored with the order (8 places) and held per unit: rounded against the client.
        d.price_estimate = estimate.quantize(PRICE_QUANTUM, rounding=ROUND_UP if sign > 0 else ROUND_DOWN)
    if d.price_estimate is not None:
        d.notional_estimate = money(intent.quantity * d.price_estimate, s.currency_scale)
        d.fee_estimate = fee_estimate(intent.quantity, s.currency_scale)

    # 6. Size, position, activity limits.
    def cap(code: str, name: str, value: Decimal | int) -> None:
        limit = _limit(s, name)
        if limit is not None:
            add(Check(code, value <= limit, f"{name.replace('_', ' ')}", limit=str(limit), value=str(value)))

    cap("max_order_quantity", "max_order_quantity", intent.quantity)
    if d.price_estimate is not None:
        cap("max_order_notional", "max_order_notional", d.notional_estimate)
        cap("max_daily_notional", "max_daily_notional", s.daily_notional + d.notional_estimate)
    if intent.side == "buy":
        cap("max_position", "max_position_quantity", s.position_total + s.open_buy_quantity + intent.quantity)
    cap("max_open_orders", "max_open_orders", s.open_orders + 1)
    cap("order_rate", "max_orders_per_second", s.orders_last_second + 1)

    # 7. Buying power and shares.
    if intent.side == "buy":
        if d.price_estimate is None:
            add(Check("insufficient_buying_power", False, "no price to estimate the cost"))
        else:
            need = buy_hold(intent.quantity, d.price_estimate, s.currency_scale, fee=d.fee_estimate)
            add(
                Check(
                    "insufficient_buying_power",
                    s.cash_available >= need,
                    "cash available vs cost and fees",
                    limit=str(s.cash_available),
                    value=str(need),
                )
            )
            d.hold_amount = need
    else:
        add(
            Check(
                "insufficient_position",
                s.position_available >= intent.quantity,
                "shares available (no short selling)",
                limit=str(s.position_available),
                value=str(intent.quantity),
            )
        )
        d.hold_amount = intent.quantity

    # 8. Exposure, from the latest mark-to-market. A daily loss at its limit admits only orders
    #    that reduce a position (as ``trading_reducing``); concentration and gross exposure are
    #    only ever increased by buys, so only buys are held against them.
    loss_limit = _limit(s, "daily_loss_limit")
    if loss_limit is not None:
        reached = -s.daily_pnl >= loss_limit
        add(
            Check(
                "daily_loss_limit",
                not reached or reduces,
                "daily loss at its limit: only orders that reduce a position" if reached else "daily loss",
                limit=str(-Decimal(loss_limit)),
                value=str(s.daily_pnl),
            )
        )
    if intent.side == "buy" and d.price_estimate is not None:
        pct_limit = _limit(s, "max_concentration_percent")
        if pct_limit is not None:
            held = s.position_total + s.open_buy_quantity + intent.quantity
            value = money(held * d.price_estimate, s.currency_scale)
            pct = None
            if s.equity > 0:
                with localcontext(prec=80):  # a notional of up to 40+ digits (see ``money``)
                    pct = (value * HUNDRED / s.equity).quantize(Decimal("0.01"), rounding=ROUND_UP)
            add(
                Check(
                    "max_concentration",
                    pct is not None and pct <= pct_limit,
                    f"position value {value} vs equity {s.equity}",
                    limit=f"{pct_limit}%",
                    value=f"{pct}%" if pct is not None else "no equity",
                )
            )
        cap("max_gross_exposure", "max_gross_exposure", s.firm_gross_exposure + d.notional_estimate)
    return d
