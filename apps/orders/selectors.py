"""Order reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from apps.orders.models import Order, OrderEvent, Position
from apps.orders.state import OPEN

_OPEN = tuple(sorted(s.value for s in OPEN))


@dataclass(frozen=True)
class Activity:
    open_orders: int
    orders_last_second: int
    daily_notional: Decimal
    open_buy_quantity: Decimal


def activities(*, account_ids: list[int], now: datetime) -> dict[tuple[int, int], Activity]:
    """Open orders, orders in the last second, today's accepted notional and open buy quantity,
    for the risk checks of many accounts at once (one query, by index), per (account, instrument)
    the account has open or today's orders in: sum a column over an account's rows for the
    account's figure; ``open_buy_quantity`` is the instrument's own."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT account_id, instrument_id,
                   count(*) FILTER (WHERE status = ANY(%(open)s)),
                   count(*) FILTER (WHERE created_at > %(second)s),
                   coalesce(sum(notional_estimate)
                            FILTER (WHERE created_at >= %(day)s AND status <> 'rejected'), 0),
                   coalesce(sum(quantity - filled_quantity) FILTER (WHERE status = ANY(%(open)s) AND side = 'buy'), 0)
              FROM orders_order
             WHERE account_id = ANY(%(accounts)s) AND (status = ANY(%(open)s) OR created_at >= %(day)s)
             GROUP BY account_id, instrument_id
            """,
            {
                "open": list(_OPEN),
                "second": now - timedelta(seconds=1),
                "day": day_start,
                "accounts": sorted(set(account_ids)),
            },
        )
        return {(row[0], row[1]): Activity(row[2], row[3], row[4], row[5]) for row in cursor.fetchall()}


def order_get(order_id: int) -> Order | None:
    return Order.objects.select_related("instrument", "account").filter(pk=order_id).first()


def order_timeline(order_id: int) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(order_id=order_id).select_related("actor").order_by("id"))


@dataclass(frozen=True)
class PositionView:
    symbol: str
    currency: str
    quantity: Decimal
    available: Decimal
    reserved: Decimal
    average_cost: Decimal | None
    cost_basis: Decimal
    realized_pnl: Decimal
    market_price: Decimal | None
    price_at: datetime | None

    @property
    def market_value(self) -> Decimal | None:
        return None if self.market_price is None else self.quantity * self.market_price

    @property
    def unrealized_pnl(self) -> Decimal | None:
        value = self.market_value
        return None if value is None else value - self.cost_basis


def position_list(*, account_id: int) -> list[PositionView]:
    """The account's positions (open, or closed with realized P&L) marked at the reference price,
    with available and reserved quantities from the ledger (two queries)."""
    from apps.ledger.selectors import balance_list

    positions = list(
        Position.objects.filter(account_id=account_id)
        .select_related("instrument", "instrument__reference_price")
        .order_by("instrument__symbol")
    )
    balances = {b.asset: b for b in balance_list(trading_account_id=account_id)}
    views = []
    for position in positions:
        instrument = position.instrument
        ledger = balances.get(instrument.symbol)
        reference = getattr(instrument, "reference_price", None)
        views.append(
            PositionView(
                symbol=instrument.symbol,
                currency=instrument.currency,
                quantity=position.quantity,
                available=ledger.available if ledger else Decimal(0),
                reserved=ledger.reserved if ledger else Decimal(0),
                average_cost=position.average_cost,
                cost_basis=position.cost_basis,
                realized_pnl=position.realized_pnl,
                market_price=reference.price if reference else None,
                price_at=reference.as_of if reference else None,
            )
        )
    return views
