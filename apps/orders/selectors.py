"""Order reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from apps.orders.models import Order, OrderEvent
from apps.orders.state import OPEN

_OPEN = tuple(sorted(s.value for s in OPEN))


@dataclass(frozen=True)
class Activity:
    open_orders: int
    orders_last_second: int
    daily_notional: Decimal
    open_buy_quantity: Decimal


def account_activity(*, account_id: int, instrument_id: int, now: datetime) -> Activity:
    """Open orders, orders in the last second, today's accepted notional, and open buy quantity
    in the instrument, for the risk checks (one query, by index)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE status = ANY(%(open)s)),
                   count(*) FILTER (WHERE created_at > %(second)s),
                   coalesce(sum(notional_estimate)
                            FILTER (WHERE created_at >= %(day)s AND status <> 'rejected'), 0),
                   coalesce(sum(quantity - filled_quantity)
                            FILTER (WHERE status = ANY(%(open)s) AND side = 'buy'
                                      AND instrument_id = %(instrument)s), 0)
              FROM orders_order
             WHERE account_id = %(account)s AND (status = ANY(%(open)s) OR created_at >= %(day)s)
            """,
            {
                "open": list(_OPEN),
                "second": now - timedelta(seconds=1),
                "day": day_start,
                "account": account_id,
                "instrument": instrument_id,
            },
        )
        open_orders, last_second, notional, open_buy = cursor.fetchone()
    return Activity(open_orders, last_second, notional, open_buy)


def order_get(order_id: int) -> Order | None:
    return Order.objects.select_related("instrument", "account").filter(pk=order_id).first()


def order_timeline(order_id: int) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(order_id=order_id).select_related("actor").order_by("id"))
