"""The paper venue's matching rules, as pure functions over Decimals (no database, no clock).

- Market (and triggered stop) orders execute at the reference price moved by the slippage
  (buys pay up, sells receive less), rounded to the tick *against the client* (buys up, sells
  down; never below one tick), so the slippage charged is never less than configured.
- Limit (and triggered stop-limit) orders execute when the reference price crosses the limit
  (buy: reference <= limit; sell: reference >= limit), at the better for the client of the
  limit and the slipped reference price: never worse than the limit.
- Stops trigger when the reference price reaches the stop (buy: >= stop; sell: <= stop).
- Each evaluation fills at most the available liquidity: the leaves quantity, capped by
  ``partial_fill_quantity`` and ``max_fill_ratio`` x quantity, rounded down to the lot size,
  at least one lot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from apps.brokers.interface import Capabilities, OrderTicket, ReplaceRequest
from apps.core.decimals import check_scale
from apps.core.errors import ValidationError
from plugins.paper.config import PaperSettings

BUY, SELL = "buy", "sell"
MARKET, LIMIT, STOP, STOP_LIMIT = "market", "limit", "stop", "stop_limit"
DAY, GTC, IOC, FOK = "day", "gtc", "ioc", "fok"
LIMIT_TYPES = frozenset({LIMIT, STOP_LIMIT})
STOP_TYPES = frozenset({STOP, STOP_LIMIT})
IMMEDIATE = frozenset({IOC, FOK})
CAPABILITIES = Capabilities(
    order_types=frozenset({MARKET, LIMIT, STOP, STOP_LIMIT}),
    time_in_force=frozenset({DAY, GTC, IOC, FOK}),
    supports_replace=True,
)
BPS = Decimal(10_000)


@dataclass(frozen=True)
class Market:
    """What the venue knows about a symbol now. ``price`` is None without a usable price."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    active: bool
    price: Decimal | None
    as_of: datetime | None = None
    stale: bool = False


@dataclass(frozen=True)
class Terms:
    """A working order as the matching rules see it."""

    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    cumulative_quantity: Decimal
    triggered: bool

    @property
    def leaves(self) -> Decimal:
        return self.quantity - self.cumulative_quantity


@dataclass(frozen=True)
class Evaluation:
    triggered: bool
    quantity: Decimal = Decimal(0)  # what executes now (zero: nothing)
    price: Decimal | None = None


def storable(value: object) -> Decimal | None:
    """``value`` if it is a finite Decimal that fits NUMERIC(28, 8), else None."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    try:
        return check_scale(value, scale=8)
    except ValidationError:
        return None


def stop_reached(side: str, stop: Decimal, price: Decimal) -> bool:
    return price >= stop if side == BUY else price <= stop


def slipped(side: str, price: Decimal, tick: Decimal, slippage_bps: Decimal) -> Decimal:
    """The reference price moved by the slippage against the client, on the tick grid."""
    if side == BUY:
        ticks = (price * (BPS + slippage_bps) / BPS / tick).to_integral_value(rounding=ROUND_CEILING)
    else:
        ticks = (price * (BPS - slippage_bps) / BPS / tick).to_integral_value(rounding=ROUND_FLOOR)
    return max(ticks, Decimal(1)) * tick


def execution_price(terms: Terms, price: Decimal, tick: Decimal, settings: PaperSettings) -> Decimal | None:
    """The price a (triggered) order executes at against ``price``, or None if it does not cross."""
    moved = slipped(terms.side, price, tick, settings.slippage_bps)
    if terms.order_type not in LIMIT_TYPES:
        return moved
    limit = terms.limit_price
    assert limit is not None
    if terms.side == BUY:
        return min(limit, moved) if price <= limit else None
    return max(limit, moved) if price >= limit else None


def available(terms: Terms, lot: Decimal, settings: PaperSettings) -> Decimal:
    """The most that can execute in one evaluation."""
    cap = terms.leaves
    if settings.partial_fill_quantity is not None:
        cap = min(cap, settings.partial_fill_quantity)
    if settings.max_fill_ratio is not None:
        cap = min(cap, terms.quantity * settings.max_fill_ratio)
    lots = max((cap / lot).to_integral_value(rounding=ROUND_FLOOR), Decimal(1))
    return min(lots * lot, terms.leaves)


def evaluate(terms: Terms, market: Market | None, settings: PaperSettings) -> Evaluation:
    """What happens to a working order at the current price: trigger, and how much fills at what."""
    price = market.price if market is not None else None
    triggered = terms.triggered
    if terms.order_type in STOP_TYPES and not triggered:
        assert terms.stop_price is not None
        if price is None or not stop_reached(terms.side, terms.stop_price, price):
            return Evaluation(triggered=False)
        triggered = True
    if price is None or market is None or terms.leaves <= 0:
        return Evaluation(triggered=triggered)
    fill_price = execution_price(terms, price, market.tick_size, settings)
    if fill_price is None:
        return Evaluation(triggered=triggered)
    return Evaluation(triggered=triggered, quantity=available(terms, market.lot_size, settings), price=fill_price)


def _plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or an exponent: 10, 0.01."""
    return f"{value.normalize():f}"


def _price_problem(name: str, value: object, needed: bool, tick: Decimal) -> str | None:
    if not needed:
        return f"a {name} price is not allowed for this order type" if value is not None else None
    if value is None:
        return f"a {name} price is required for this order type"
    number = storable(value)
    if number is None or number <= 0:
        return f"the {name} price must be a positive Decimal with at most 8 decimal places"
    if number % tick != 0:
        return f"the {name} price {value} is not a multiple of the tick size {_plain(tick)}"
    return None


def _shape_problem(ticket: OrderTicket, capabilities: Capabilities) -> str | None:
    if ticket.order_type not in capabilities.order_types:
        return f"order type {ticket.order_type!r} is not supported"
    if ticket.time_in_force not in capabilities.time_in_force:
        return f"time in force {ticket.time_in_force!r} is not supported"
    if ticket.side not in (BUY, SELL):
        return f"side {ticket.side!r} is not buy or sell"
    quantity = storable(ticket.quantity)
    if quantity is None or quantity <= 0:
        return "the quantity must be a positive Decimal with at most 8 decimal places"
    return None


def _market_problem(ticket: OrderTicket, market: Market | None) -> str | None:
    if market is None:
        return f"unknown symbol {ticket.symbol!r}"
    if not market.active:
        return f"{ticket.symbol} is not trading"
    if ticket.quantity % market.lot_size != 0:
        return f"the quantity {ticket.quantity} is not a multiple of the lot size {_plain(market.lot_size)}"
    problem = _price_problem(
        "limit", ticket.limit_price, ticket.order_type in LIMIT_TYPES, market.tick_size
    ) or _price_problem("stop", ticket.stop_price, ticket.order_type in STOP_TYPES, market.tick_size)
    if problem is None and ticket.order_type == MARKET and market.price is None:
        problem = f"no {'recent ' if market.stale else ''}reference price for {ticket.symbol}"
    return problem


def rejection(ticket: OrderTicket, market: Market | None, capabilities: Capabilities) -> str | None:
    """Why the venue refuses a new order (the REJECTED report's text), or None to accept it."""
    return _shape_problem(ticket, capabilities) or _market_problem(ticket, market)


def replace_rejection(terms: Terms, request: ReplaceRequest, market: Market | None) -> str | None:
    """Why the venue refuses to replace a working order's terms, or None to replace them."""
    quantity = storable(request.quantity)
    if quantity is None or quantity <= 0:
        return "the quantity must be a positive Decimal with at most 8 decimal places"
    if quantity < terms.cumulative_quantity:
        filled = _plain(terms.cumulative_quantity)
        return f"the new quantity {request.quantity} is below the quantity already filled, {filled}"
    if market is not None and quantity % market.lot_size != 0:
        return f"the quantity {request.quantity} is not a multiple of the lot size {_plain(market.lot_size)}"
    tick = market.tick_size if market is not None else Decimal("0.00000001")
    for name, value, needed in (
        ("limit", request.limit_price, terms.order_type in LIMIT_TYPES),
        ("stop", request.stop_price, terms.order_type in STOP_TYPES),
    ):
        if value is not None:
            problem = _price_problem(name, value, needed, tick)
            if problem:
                return problem
    if request.stop_price is not None and terms.triggered and request.stop_price != terms.stop_price:
        return "the stop price of a triggered order cannot change"
    return None
