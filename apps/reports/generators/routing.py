"""The order routing report (after SEC Rule 606): per broker, order type and currency, the orders
routed in the period, how much of them was filled, how fast, and at what price against the
reference price when the order was received.

Definitions (every figure from records written before ``period.end``):

- **Routed in the period**: an order whose *first* ``routed`` event (the relay claimed its submit
  for a broker) is in ``[period.start, period.end)``. A submit claimed again after a transient
  failure writes another ``routed`` event; the order still counts once, at its first routing.
  The broker is the one that event names (``data.destination``), else ``Order.broker``.
- **Routed quantity**: the order's quantity at the period's end (the ``received`` event's, or
  the last ``replaced`` event's before the end), so a confirmed resize counts.
- **Fills**: the order's fills booked before ``period.end`` (any fill, late ones included).
  *Order fill rate* = orders with at least one fill / orders routed; *quantity fill rate* =
  filled quantity / routed quantity (both four decimals).
- **Time to first fill**: the first fill's ``booked_at`` minus the routing event's ``at``, in
  milliseconds, averaged and medianed over the filled orders. ``booked_at`` rather than the
  venue's ``executed_at``: both ends are then read from our clock, so a venue's clock skew
  cannot make a time negative; it includes our intake latency, which is what a client waits.
- **Reference price at receipt**: the last ``PriceObservation`` of the instrument with
  ``recorded_at <= order.created_at`` (ties by id). Not ``Order.price_estimate``, which is the
  collar-adjusted estimate risk reserved against.
- **Price improvement** per share, in the instrument's currency: reference - average fill price
  for a buy, average fill price - reference for a sell (positive = better for the client), and
  in basis points of the reference. Per group: share-weighted, i.e. sum(improvement x filled
  quantity) / sum filled quantity, and in bps sum(improvement x filled quantity) / sum(reference x
  filled quantity) x 10,000; orders without a reference price or without fills are left out
  (``improvement_orders`` counts those in).

Groups are keyed by (broker, order type, currency) because improvements in different currencies
do not add up; every broker and currency seen gets a row for each of the four order types.

Files: ``order_routing-{date}.pdf`` (the table), ``order_routing-{date}.csv`` (the groups) and
``order_routing-{date}-orders.csv`` (one row per routed order, the figures the groups sum).
One query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import connection

from apps.orders.models import OrderType
from apps.reports import render
from apps.reports.generators.blotter import event_data, number, stamp, utc
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register

KEY = "order_routing"
ZERO = Decimal(0)
TYPES = list(OrderType.values)  # market, limit, stop, stop_limit
_PRICE = Decimal("0.00000001")
_RATE = Decimal("0.0001")
_BPS = Decimal("0.01")
_MS = Decimal("0.001")
_TEN_THOUSAND = Decimal(10_000)

# Each order whose first ROUTED event is in the period, with that event, its fixed facts, its
# quantity at the end, its fills booked before the end (summed) and its reference price at receipt.
_ROUTED = """
WITH first_route AS (
    SELECT DISTINCT ON (e.order_id) e.order_id, e.id AS event_id, e.at, e.data
      FROM orders_orderevent e
     WHERE e.kind = 'routed' AND e.at < %(end)s
       AND e.order_id IN (SELECT r.order_id FROM orders_orderevent r
                           WHERE r.kind = 'routed' AND r.at >= %(start)s AND r.at < %(end)s)
     ORDER BY e.order_id, e.at, e.id
)
SELECT fr.order_id, fr.at, fr.data, o.broker, o.type, o.side, ta.number, i.symbol, i.currency,
       (SELECT t.data ->> 'quantity' FROM orders_orderevent t
         WHERE t.order_id = o.id AND t.kind IN ('received', 'replaced') AND t.at < %(end)s
           AND t.data ->> 'quantity' IS NOT NULL
         ORDER BY t.at DESC, t.id DESC LIMIT 1) AS quantity,
       fx.quantity, fx.notional, fx.first_booked_at,
       (SELECT p.price FROM instruments_priceobservation p
         WHERE p.instrument_id = o.instrument_id AND p.recorded_at <= o.created_at
         ORDER BY p.recorded_at DESC, p.id DESC LIMIT 1) AS reference_price,
       o.quantity
  FROM first_route fr
  JOIN orders_order o ON o.id = fr.order_id
  JOIN accounts_tradingaccount ta ON ta.id = o.account_id
  JOIN instruments_instrument i ON i.id = o.instrument_id
  LEFT JOIN LATERAL (
       SELECT SUM(f.quantity) AS quantity, SUM(f.quantity * f.price) AS notional, MIN(f.booked_at) AS first_booked_at
         FROM orders_fill f WHERE f.order_id = o.id AND f.booked_at < %(end)s) fx ON TRUE
 WHERE fr.at >= %(start)s
 ORDER BY fr.at, fr.order_id
"""


@dataclass(frozen=True)
class RoutedOrder:
    order_id: int
    routed_at: datetime
    broker: str
    type: str
    side: str
    account_number: str
    symbol: str
    currency: str
    quantity: Decimal
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    first_fill_at: datetime | None
    reference_price: Decimal | None

    @property
    def time_to_first_fill_ms(self) -> Decimal | None:
        if self.first_fill_at is None:
            return None
        micros = (self.first_fill_at - self.routed_at) // timedelta(microseconds=1)
        return (Decimal(micros) / 1000).quantize(_MS)

    @property
    def improvement(self) -> Decimal | None:
        """Per share, positive = better for the client."""
        if self.average_fill_price is None or self.reference_price is None:
            return None
        if self.side == "buy":
            return self.reference_price - self.average_fill_price
        return self.average_fill_price - self.reference_price

    @property
    def improvement_bps(self) -> Decimal | None:
        improvement = self.improvement
        if improvement is None or not self.reference_price:
            return None
        return (improvement / self.reference_price * _TEN_THOUSAND).quantize(_BPS, ROUND_HALF_EVEN)


def routed_orders(period: Period) -> list[RoutedOrder]:
    with connection.cursor() as cursor:
        cursor.execute(_ROUTED, {"start": period.start, "end": period.end})
        rows = cursor.fetchall()
    result = []
    for row in rows:
        (order_id, at, data, broker, order_type, side, account_number, symbol, currency) = row[:9]
        (quantity, filled, notional, first_booked_at, reference, current_quantity) = row[9:]
        filled_quantity = number(filled) or ZERO
        average = (
            number((Decimal(notional) / Decimal(filled)).quantize(_PRICE, ROUND_HALF_EVEN)) if filled_quantity else None
        )
        result.append(
            RoutedOrder(
                order_id=order_id,
                routed_at=utc(at),
                broker=str(event_data(data).get("destination") or broker),
                type=order_type,
                side=side,
                account_number=account_number,
                symbol=symbol,
                currency=currency,
                quantity=number(quantity if quantity is not None else current_quantity) or ZERO,
                filled_quantity=filled_quantity,
                average_fill_price=average,
                first_fill_at=utc(first_booked_at) if first_booked_at is not None and filled_quantity else None,
                reference_price=number(reference),
            )
        )
    return result


def _median(values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return ((ordered[middle - 1] + ordered[middle]) / 2).quantize(_MS, ROUND_HALF_EVEN)


def _ratio(part: Decimal, whole: Decimal, quantum: Decimal = _RATE) -> Decimal | None:
    return (part / whole).quantize(quantum, ROUND_HALF_EVEN) if whole else None


@dataclass(frozen=True)
class Group:
    broker: str
    type: str
    currency: str
    orders: list[RoutedOrder]

    @property
    def filled(self) -> list[RoutedOrder]:
        return [o for o in self.orders if o.filled_quantity]

    @property
    def improved(self) -> list[RoutedOrder]:
        return [o for o in self.filled if o.improvement is not None]

    def figures(self) -> dict[str, Any]:
        routed_quantity = sum((o.quantity for o in self.orders), ZERO)
        filled_quantity = sum((o.filled_quantity for o in self.orders), ZERO)
        times = [t for t in (o.time_to_first_fill_ms for o in self.filled) if t is not None]
        improved = self.improved
        shares = sum((o.filled_quantity for o in improved), ZERO)
        gain = sum((o.improvement * o.filled_quantity for o in improved if o.improvement is not None), ZERO)
        reference_value = sum((o.reference_price * o.filled_quantity for o in improved if o.reference_price), ZERO)
        return {
            "routed_orders": len(self.orders),
            "routed_quantity": number(routed_quantity),
            "filled_orders": len(self.filled),
            "filled_quantity": number(filled_quantity),
            "order_fill_rate": _ratio(Decimal(len(self.filled)), Decimal(len(self.orders))),
            "quantity_fill_rate": _ratio(filled_quantity, routed_quantity),
            "avg_ms_to_first_fill": _ratio(sum(times, ZERO), Decimal(len(times)), _MS) if times else None,
            "median_ms_to_first_fill": _median(times),
            "improvement_orders": len(improved),
            "improvement_per_share": number(_ratio(gain, shares, _PRICE)) if shares else None,
            "improvement_bps": _ratio(gain * _TEN_THOUSAND, reference_value, _BPS) if reference_value else None,
            "improvement_total": number(gain) if improved else None,
        }


def groups_of(orders: list[RoutedOrder]) -> list[Group]:
    """Per (broker, currency) seen, one group for each of the four order types (empty ones too)."""
    members: dict[tuple[str, str, str], list[RoutedOrder]] = defaultdict(list)
    for o in orders:
        members[(o.broker, o.currency, o.type)].append(o)
    seen = sorted({(broker, currency) for broker, currency, _ in members})
    return [
        Group(broker=broker, type=kind, currency=currency, orders=members.get((broker, currency, kind), []))
        for broker, currency in seen
        for kind in TYPES
    ]


GROUP_HEADER = [
    "broker",
    "order_type",
    "currency",
    "routed_orders",
    "routed_quantity",
    "filled_orders",
    "filled_quantity",
    "order_fill_rate",
    "quantity_fill_rate",
    "avg_ms_to_first_fill",
    "median_ms_to_first_fill",
    "improvement_orders",
    "improvement_per_share",
    "improvement_bps",
    "improvement_total",
]

ORDER_HEADER = [
    "routed_at",
    "order_id",
    "broker",
    "order_type",
    "side",
    "account",
    "symbol",
    "currency",
    "quantity",
    "filled_quantity",
    "average_fill_price",
    "first_fill_booked_at",
    "ms_to_first_fill",
    "reference_price",
    "improvement_per_share",
    "improvement_bps",
]


def _order_row(o: RoutedOrder) -> list[Any]:
    return [
        stamp(o.routed_at),
        o.order_id,
        o.broker,
        o.type,
        o.side,
        o.account_number,
        o.symbol,
        o.currency,
        o.quantity,
        o.filled_quantity,
        o.average_fill_price,
        stamp(o.first_fill_at),
        o.time_to_first_fill_ms,
        o.reference_price,
        number(o.improvement),
        o.improvement_bps,
    ]


def _group_row(group: Group) -> list[Any]:
    figures = group.figures()
    return [group.broker, group.type, group.currency, *(figures[name] for name in GROUP_HEADER[3:])]


def _percent(value: Decimal | None) -> str:
    return "" if value is None else f"{(value * 100).quantize(_BPS, ROUND_HALF_EVEN)}%"


def _pdf(period: Period, orders: list[RoutedOrder], groups: list[Group]) -> bytes:
    doc = render.PdfDocument(f"Order routing report {period.business_date.isoformat()}", wide=True)
    doc.pairs(
        [
            ("Period (UTC)", f"{period.start.isoformat()} to {period.end.isoformat()}"),
            ("Orders routed", str(len(orders))),
            ("Orders with fills", str(sum(1 for o in orders if o.filled_quantity))),
        ]
    )
    doc.line(
        "Fill rates: orders with any fill / orders routed, and filled / routed quantity. Time to first fill: "
        "first fill booked minus routed, in ms. Price improvement against the last reference price recorded "
        "at or before the order's receipt, per share (positive: better for the client) and in basis points."
    )
    doc.heading("Per broker and order type")
    rows = []
    for group in groups:
        f = group.figures()
        rows.append(
            [
                group.broker,
                group.type,
                group.currency,
                str(f["routed_orders"]),
                render.plain(f["routed_quantity"]),
                str(f["filled_orders"]),
                _percent(f["order_fill_rate"]),
                _percent(f["quantity_fill_rate"]),
                render.text(f["avg_ms_to_first_fill"]),
                render.text(f["median_ms_to_first_fill"]),
                render.plain(f["improvement_per_share"]),
                render.text(f["improvement_bps"]),
            ]
        )
    doc.table(
        [
            "Broker",
            "Type",
            "Ccy",
            "Routed",
            "Quantity",
            "Filled",
            "Order fill",
            "Qty fill",
            "Avg ms",
            "Median ms",
            "Impr./share",
            "Impr. bps",
        ],
        rows,
        numeric_from=3,
    )
    return doc.render()


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    orders = routed_orders(period)
    groups = groups_of(orders)
    stem = f"{KEY}-{period.business_date.isoformat()}"
    return [
        ReportContent(name=f"{stem}.pdf", content_type="application/pdf", data=_pdf(period, orders, groups)),
        ReportContent(
            name=f"{stem}.csv",
            content_type="text/csv",
            data=render.csv_bytes(
                GROUP_HEADER,
                (_group_row(g) for g in groups),
            ),
        ),
        ReportContent(
            name=f"{stem}-orders.csv",
            content_type="text/csv",
            data=render.csv_bytes(ORDER_HEADER, (_order_row(o) for o in orders)),
        ),
    ]


register(
    ReportKind(
        key=KEY,
        title="Order routing report",
        scope=Scope.FIRM,
        generate=generate,
        description="After SEC Rule 606: per broker and order type, the orders routed in the period, fill rates, "
        "time to first fill and price improvement against the reference price at receipt (CSV and PDF).",
    )
)
