"""What an order's hold must reserve, and keeping it there.

One rule, used by placement, replace, every execution report and the simulation's auditor:

- the price per unit is the limit price for limit and stop-limit orders, else the price risk
  estimated at acceptance (``Order.price_estimate``: the collar-adjusted reference price);
- the outstanding quantity is what the venue may still execute: ``quantity - filled`` while the
  order is open; once it is terminal, what the venue reported executed (its CumQty) but we have
  not booked yet (those fills are still on their way);
- a buy needs the outstanding notional rounded up to the currency's scale plus the commission
  still expected (the risk estimate for the whole order less the fees already charged; a rebate
  adds to it); a sell needs the outstanding shares;
- while a replace is unanswered the hold covers the larger of the current and the requested
  terms, so that whichever the venue confirms is covered; and since the venue may still fill
  under the current terms before it applies the replace, the requested terms' need counts the
  units that can still fill under the current terms at the dearer of the two prices.

The hold grows only when a replace asks for more (``order_replace``); every report releases
what it reserves beyond the need. Hold postings are keyed by the hold's state (amount, captured,
remaining), which never repeats, so a key is reused only by a genuine retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Hold
from apps.ledger.selectors import asset_get
from apps.orders.models import Order
from apps.orders.state import TERMINAL, Status
from apps.risk import checks

LIMIT_TYPES = frozenset({"limit", "stop_limit"})


@dataclass(frozen=True)
class Terms:
    """The terms a hold is computed for: the order's current ones, or a pending replace's."""

    quantity: Decimal
    limit_price: Decimal | None
    price_estimate: Decimal | None

    @staticmethod
    def current(order: Order) -> Terms:
        return Terms(order.quantity, order.limit_price, order.price_estimate)

    @staticmethod
    def pending(order: Order) -> Terms | None:
        pending = order.pending_replace
        if not pending:
            return None
        return Terms(
            Decimal(str(pending["quantity"])),
            _decimal(pending.get("limit_price")),
            _decimal(pending.get("price_estimate")) or order.price_estimate,
        )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def unit_price(order: Order, terms: Terms) -> Decimal:
    """What the hold reserves per unit under ``terms``."""
    price = terms.limit_price if order.type in LIMIT_TYPES else terms.price_estimate
    if price is None:
        raise ValueError(f"order {order.pk} has no price to hold for")
    return price


def notional_estimate(order: Order, terms: Terms, scale: int) -> Decimal:
    """Risk's notional for ``terms`` (rounded up to the currency's scale)."""
    return checks.money(terms.quantity * unit_price(order, terms), scale)


def need(order: Order, terms: Terms, scale: int) -> Decimal:
    """What the hold must reserve under ``terms``, given the order's fills so far."""
    if order.status == Status.REJECTED:
        return Decimal(0)
    if order.status in TERMINAL:
        outstanding = max(order.venue_cumulative_quantity - order.filled_quantity, Decimal(0))
    else:
        outstanding = max(terms.quantity - order.filled_quantity, Decimal(0))
    if outstanding == 0:
        return Decimal(0)
    if order.side == "sell":
        return outstanding
    fee = max(checks.fee_estimate(terms.quantity, scale) - order.fees, Decimal(0))
    return checks.buy_hold(outstanding, unit_price(order, terms), scale, fee=fee)


def hold_needed(order: Order, scale: int | None = None) -> Decimal:
    """What the order's hold must reserve now (the larger need while a replace is unanswered).
    ``scale`` is the currency's (looked up when not given)."""
    if scale is None:
        scale = asset_get(order.instrument.currency).scale
    needed = need(order, Terms.current(order), scale)
    pending = Terms.pending(order)
    if pending is not None and order.status not in TERMINAL:
        needed = max(needed, need_replacing(order, pending, scale))
    return needed


def need_replacing(order: Order, pending: Terms, scale: int) -> Decimal:
    """What the hold must reserve for ``pending`` terms not yet confirmed by the venue.

    Until the venue applies the replace it may go on filling under the current terms: up to the
    current outstanding quantity at the current price. If that price is the dearer one (a replace
    that lowers the limit and raises the quantity), those units are reserved at it, so a fill at
    the old price never leaves the new terms short (found by the simulation, seed 113).
    """
    current = Terms.current(order)
    if order.side == "sell" or order.status in TERMINAL:
        return need(order, pending, scale)
    outstanding = max(pending.quantity - order.filled_quantity, Decimal(0))
    if outstanding == 0:
        return Decimal(0)
    old_price, new_price = unit_price(order, current), unit_price(order, pending)
    at_old = min(max(current.quantity - order.filled_quantity, Decimal(0)), outstanding) if old_price > new_price else 0
    notional = at_old * old_price + (outstanding - at_old) * new_price
    fee = max(checks.fee_estimate(pending.quantity, scale) - order.fees, Decimal(0))
    return checks.money(notional, scale) + fee


def state_key(kind: str, hold: Hold) -> str:
    """An idempotency key for a change of ``hold`` from its present state: amount and captured
    only grow and remaining only changes with one of them or a release, so no state recurs."""
    return f"{kind}:{hold.pk}:{hold.amount:f}:{hold.captured:f}:{hold.remaining:f}"


def release_excess(
    order: Order, hold: Hold, accounts: Mapping[int, LockedAccount], actor_id: int, *, scale: int | None = None
) -> Decimal:
    """Release what the locked, active ``hold`` reserves beyond the order's need."""
    if hold.status != "active":
        return Decimal(0)
    target = hold_needed(order, scale)
    excess = hold.remaining - min(target, hold.remaining)
    if excess > 0:
        ledger_ops.hold_release_locked(
            accounts=accounts,
            hold=hold,
            amount=excess,
            actor_id=actor_id,
            idempotency_key=state_key("hold-release", hold),
            memo=f"release for order {order.pk} ({order.status})",
        )
    return excess


def resize_hold(order: Order, actor_id: int) -> Decimal:
    """Lock the order's hold (and its two ledger accounts) and release its excess; returns it."""
    if order.hold_id is None:
        return Decimal(0)
    hold = order.hold
    assert hold is not None
    accounts = ledger_locks.lock_ledger_accounts([hold.available_account_id, hold.reserved_account_id])
    locked = ledger_locks.lock_hold(hold.pk)
    assert locked is not None
    order.hold = locked
    return release_excess(order, locked, accounts, actor_id)
