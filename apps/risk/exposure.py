"""Mark-to-market figures and limit breaches: pure functions over what the marking job gathered.

The job (``apps.orders.marking``) reads cash, positions and reference prices; this module turns
them into an account's figures (cash, market value, P&L, equity, gross exposure, concentration,
daily P&L), sums them firm-wide, and compares them with the limits. Writing the snapshots and
acting on breaches is ``apps.risk.services``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from apps.risk.models import TradingStateValue

HUNDRED = Decimal(100)
ZERO = Decimal(0)
STORED = Decimal("0.00000001")  # NUMERIC(28, 8)

#: The reason codes of the mark-to-market breaches (the pre-trade checks reuse three of them).
BREACH_CODES = ("daily_loss_limit", "daily_loss_halt", "max_gross_exposure", "max_concentration")

#: How strict each trading state is: a breach never moves a target to a weaker state.
STRICTNESS: dict[str, int] = {TradingStateValue.ACTIVE: 0, TradingStateValue.REDUCING: 1, TradingStateValue.HALTED: 2}


@dataclass(frozen=True)
class PositionMark:
    """One position as the job read it; ``price`` None when the instrument has no reference price."""

    instrument_id: int
    symbol: str
    currency: str
    scale: int  # the instrument currency's minor unit
    quantity: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    price: Decimal | None
    price_at: datetime | None


@dataclass(frozen=True)
class AccountMarks:
    account_id: int
    currency: str  # base currency
    cash: Decimal  # available + reserved, base currency
    positions: list[PositionMark] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    """One snapshot row's figures (``account_id`` None: the firm-wide sums)."""

    account_id: int | None
    currency: str
    cash: Decimal
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    equity: Decimal
    gross_exposure: Decimal
    concentration_percent: Decimal | None
    daily_pnl: Decimal
    lines: list[dict[str, Any]]

    @property
    def total_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl


def market_value(quantity: Decimal, price: Decimal, scale: int) -> Decimal:
    """quantity x price, rounded half-even to the currency's minor unit."""
    with localcontext(prec=80):
        return (quantity * price).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


def concentration(largest: Decimal, equity: Decimal) -> Decimal | None:
    """The largest instrument's market value as a percent of equity; None without equity."""
    if equity <= 0:
        return None if largest > 0 else ZERO
    with localcontext(prec=80):
        return (largest * HUNDRED / equity).quantize(STORED, rounding=ROUND_HALF_EVEN)


def account_figures(marks: AccountMarks, *, baseline_pnl: Decimal) -> Figures:
    """An account's figures; ``baseline_pnl`` is the total P&L of its last snapshot before the
    business day began (0 without one). A position without a reference price is valued at its
    cost (no unrealized P&L) and flagged ``priced: false``."""
    lines: list[dict[str, Any]] = []
    value = cost = unrealized = realized = gross = largest = ZERO
    for p in marks.positions:
        realized += p.realized_pnl
        if p.quantity == 0:
            continue
        mv = market_value(p.quantity, p.price, p.scale) if p.price is not None else p.cost_basis
        pnl = mv - p.cost_basis
        value += mv
        cost += p.cost_basis
        unrealized += pnl
        gross += abs(mv)
        largest = max(largest, mv)
        lines.append(
            {
                "instrument": p.instrument_id,
                "symbol": p.symbol,
                "currency": p.currency,
                "quantity": p.quantity,
                "price": p.price,
                "price_at": p.price_at,
                "priced": p.price is not None,
                "market_value": mv,
                "cost_basis": p.cost_basis,
                "unrealized_pnl": pnl,
                "realized_pnl": p.realized_pnl,
            }
        )
    equity = marks.cash + value
    return Figures(
        account_id=marks.account_id,
        currency=marks.currency,
        cash=marks.cash,
        market_value=value,
        cost_basis=cost,
        unrealized_pnl=unrealized,
        realized_pnl=realized,
        equity=equity,
        gross_exposure=gross,
        concentration_percent=concentration(largest, equity),
        daily_pnl=realized + unrealized - baseline_pnl,
        lines=lines,
    )


def firm_figures(accounts: list[Figures]) -> Figures:
    """The firm-wide row: every figure summed; its concentration is the largest instrument
    (summed over accounts) over the firm's equity; one line per instrument."""
    per_instrument: dict[int, dict[str, Any]] = {}
    for figures in accounts:
        for line in figures.lines:
            row = per_instrument.setdefault(
                line["instrument"],
                {"instrument": line["instrument"], "symbol": line["symbol"], "currency": line["currency"]}
                | {key: ZERO for key in ("quantity", "market_value", "cost_basis", "unrealized_pnl")},
            )
            for key in ("quantity", "market_value", "cost_basis", "unrealized_pnl"):
                row[key] += line[key]
    currencies = {f.currency for f in accounts}
    equity = sum((f.equity for f in accounts), ZERO)
    largest = max((row["market_value"] for row in per_instrument.values()), default=ZERO)
    return Figures(
        account_id=None,
        currency=currencies.pop() if len(currencies) == 1 else "",
        cash=sum((f.cash for f in accounts), ZERO),
        market_value=sum((f.market_value for f in accounts), ZERO),
        cost_basis=sum((f.cost_basis for f in accounts), ZERO),
        unrealized_pnl=sum((f.unrealized_pnl for f in accounts), ZERO),
        realized_pnl=sum((f.realized_pnl for f in accounts), ZERO),
        equity=equity,
        gross_exposure=sum((f.gross_exposure for f in accounts), ZERO),
        concentration_percent=concentration(largest, equity),
        daily_pnl=sum((f.daily_pnl for f in accounts), ZERO),
        lines=[per_instrument[key] for key in sorted(per_instrument)],
    )


# --- breaches -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """A limit the figures breach: the state it calls for, on which target (account None: the
    firm), and the figures, for the trading state's reason and the compliance alert."""

    code: str
    account_id: int | None
    state: str
    value: Decimal
    limit: Decimal
    currency: str
    reason: str
    details: dict[str, Any]


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def account_breaches(figures: Figures, limits: dict[str, Any]) -> list[Breach]:
    """The account limits ``figures`` breach, strictest first: the halt limit (a daily loss at
    or beyond it), else the daily loss limit; the concentration limit (above it; an account
    holding positions with no positive equity is beyond any limit)."""
    found: list[Breach] = []
    cur = figures.currency
    loss = -figures.daily_pnl
    for code, name, state in (
        ("daily_loss_halt", "daily_loss_halt_limit", TradingStateValue.HALTED),
        ("daily_loss_limit", "daily_loss_limit", TradingStateValue.REDUCING),
    ):
        limit = limits.get(name)
        if limit is not None and loss >= limit:
            found.append(
                _breach(
                    figures,
                    code=code,
                    state=state,
                    value=figures.daily_pnl,
                    limit=-Decimal(limit),
                    reason=f"{code}: daily P&L {_amount(figures.daily_pnl)} {cur} beyond {_amount(-Decimal(limit))}",
                )
            )
            break  # the halt covers the reducing one
    limit = limits.get("max_concentration_percent")
    pct = figures.concentration_percent
    if limit is not None and figures.gross_exposure > 0 and (pct is None or pct > limit):
        shown = "no positive equity" if pct is None else f"{pct.quantize(Decimal('0.01'))}% of equity"
        found.append(
            _breach(
                figures,
                code="max_concentration",
                state=TradingStateValue.REDUCING,
                value=pct if pct is not None else figures.gross_exposure,
                limit=Decimal(limit),
                reason=f"max_concentration: largest position {shown} beyond {limit}%",
            )
        )
    return found


def firm_breaches(figures: Figures, limits: dict[str, Any]) -> list[Breach]:
    """The firm-wide limit: gross exposure above ``max_gross_exposure`` (the firm's own value)."""
    limit = limits.get("max_gross_exposure")
    if limit is None or figures.gross_exposure <= limit:
        return []
    return [
        _breach(
            figures,
            code="max_gross_exposure",
            state=TradingStateValue.REDUCING,
            value=figures.gross_exposure,
            limit=Decimal(limit),
            reason=f"max_gross_exposure: gross exposure {_amount(figures.gross_exposure)} "
            f"{figures.currency} beyond {_amount(Decimal(limit))}".replace("  ", " "),
        )
    ]


def _breach(figures: Figures, *, code: str, state: str, value: Decimal, limit: Decimal, reason: str) -> Breach:
    details = {
        "code": code,
        "account": figures.account_id,
        "state": state,
        "value": value,
        "limit": limit,
        "currency": figures.currency,
        "cash": figures.cash,
        "market_value": figures.market_value,
        "equity": figures.equity,
        "gross_exposure": figures.gross_exposure,
        "concentration_percent": figures.concentration_percent,
        "unrealized_pnl": figures.unrealized_pnl,
        "realized_pnl": figures.realized_pnl,
        "daily_pnl": figures.daily_pnl,
    }
    return Breach(code, figures.account_id, state, value, limit, figures.currency, reason, details)
