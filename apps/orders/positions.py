"""Average-cost position keeping: quantity, cost basis (including buy commissions) and
realized P&L (sell proceeds minus commission minus the average cost of what was sold).

Every figure is the cash the ledger moved (the notional rounded to the currency's scale), so
that realized P&L less cost basis equals the net cash of the position's fills."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from apps.orders import deferred
from apps.orders.models import Position

QUANTUM = Decimal("0.00000001")


def apply_fill(
    position: Position, *, side: str, quantity: Decimal, cash: Decimal, fee: Decimal, now: datetime
) -> Decimal:
    """Update ``position`` for one fill whose shares moved ``cash`` (the rounded notional) and
    cost ``fee`` (negative: a rebate); return the P&L it realized (zero for buys)."""
    realized = Decimal(0)
    if side == "buy":
        position.cost_basis += cash + fee
        position.quantity += quantity
    else:
        if quantity >= position.quantity:
            removed = position.cost_basis
        else:
            removed = (position.cost_basis * quantity / position.quantity).quantize(QUANTUM, ROUND_HALF_EVEN)
        realized = cash - fee - removed
        position.cost_basis -= removed
        position.quantity -= quantity
        position.realized_pnl += realized
    position.updated_at = now
    deferred.save_position(position)
    return realized
