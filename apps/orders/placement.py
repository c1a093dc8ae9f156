"""Placing one order: through the process's group commit (``apps.orders.group_commit``), which
places it in a batch with the orders other threads are placing at the same moment, or alone
(``apps.orders.batch`` validates, locks, finds replays and owns the transaction;
``apps.orders.acceptance`` decides and writes each order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apps.accounts.models import TradingAccount
from apps.orders.batch import OrderRequest
from apps.orders.group_commit import committer
from apps.orders.models import Order

if TYPE_CHECKING:
    from apps.users.models import User


def order_place(
    *,
    actor: User,
    account: TradingAccount | int,
    symbol: Any,
    side: Any,
    type: Any,
    quantity: Any,
    limit_price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = "day",
    client_order_id: Any = None,
) -> Order:
    """Place an order. Returns the order: ``pending_new`` when risk accepted it (a hold is placed
    and the order is queued for its broker), ``rejected`` with ``reject_reason`` when risk refused
    it (stored as evidence). Malformed requests raise and store nothing. The same
    ``client_order_id`` with the same terms returns the first order (``replayed``)."""
    request = OrderRequest(
        account=account,
        symbol=symbol,
        side=side,
        type=type,
        quantity=quantity,
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force=time_in_force,
        client_order_id=client_order_id,
    )
    answer = committer.place(actor=actor, request=request)
    if answer.error is not None:
        raise answer.error
    assert answer.order is not None
    return answer.order
