"""Building the tickets a venue sees from our orders."""

from __future__ import annotations

from apps.brokers.interface import OrderTicket
from apps.brokers.models import OrderInstruction
from apps.orders.models import Order


def ticket_for(order: Order, instruction: OrderInstruction | None = None) -> OrderTicket:
    """The ticket for one request about ``order``: ``instruction``'s own ClOrdID (else the one the
    order works under, for a status query), and the ClOrdID of the terms the venue works now."""
    return OrderTicket(
        order_id=order.pk,
        client_order_id=order.client_order_id,
        account_number=order.account.number,
        symbol=order.instrument.symbol,
        side=order.side,
        order_type=order.type,
        quantity=order.quantity,
        time_in_force=order.time_in_force,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        broker_order_id=order.broker_order_id,
        request_id=instruction.request_id if instruction is not None else order.current_request_id,
        original_request_id=order.current_request_id if instruction is not None else "",
    )
