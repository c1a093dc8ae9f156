"""The trade blotter: every order event and fill of a business date, firm-wide.

Files (the first is the run's main file):

- ``trade_blotter-{date}.pdf``: a summary: orders by status at the period's end, events by kind,
  fills and notional per symbol, the top accounts by notional;
- ``trade_blotter-{date}-events.csv``: one row per order event whose ``at`` is in the period,
  ordered by (at, id), with the order's terms as they stood after that event;
- ``trade_blotter-{date}-fills.csv``: one row per fill booked in the period, by (booked_at, id).

An order's terms (quantity, limit and stop price) change with confirmed replaces, so they are
not read from the order row (which shows today's terms) but rebuilt from the timeline: the
``received`` event's terms, then each ``replaced`` event's, up to the event in question. Every
figure therefore comes from append-only rows recorded before ``period.end`` (events, fills) or
fields an order never changes (account, instrument, side, type, time in force, broker), and a
re-run yields the same bytes.

Two queries in all, whatever the volume: the timeline (the period's orders' events before the
end, with their order, account, instrument and actor) and the fills. Timestamps are written in UTC
with microseconds; quantities and prices as normalised Decimals ("10", "99.5").

The timeline reader (``timeline_in_period``) is shared with the CAT export (``cat_events``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from apps.orders.models import EventKind
from apps.orders.state import Status
from apps.reports import render
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register

KEY = "trade_blotter"
ZERO = Decimal(0)
TOP_ACCOUNTS = 10
FILL_KINDS = frozenset({EventKind.PARTIALLY_FILLED.value, EventKind.FILLED.value})
TERMS_KINDS = frozenset({EventKind.RECEIVED.value, EventKind.REPLACED.value})
REQUEST_KINDS = frozenset({EventKind.REPLACE_REQUESTED.value, EventKind.CANCEL_REQUESTED.value})


def number(value: Any) -> Decimal | None:
    """A stored quantity or price (a NUMERIC column, or a string in an event's JSON data) as a
    normalised Decimal, so that the same figure is always written the same way ("10", "99.5")."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, Decimal) else Decimal(str(value))
    if not parsed.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return parsed.normalize() if parsed else ZERO


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def stamp(value: datetime | None) -> str:
    """A CSV timestamp: UTC ISO 8601, always with microseconds (fixed width, sorts as text)."""
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def event_data(value: Any) -> dict[str, Any]:
    """An event's data: Django's PostgreSQL backend hands jsonb to raw cursors as text."""
    if value is None or value == "":
        return {}
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else {}


def _rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True)
class TimelineEvent:
    """One order event with its order's fixed facts and its terms as they stood after it."""

    id: int
    order_id: int
    kind: str
    status_after: str
    at: datetime
    broker_at: datetime | None
    initiator: str
    data: dict[str, Any]
    actor: str
    sequence: int | None  # the event chain's number, if assigned before the period's end
    client_order_id: str
    account_number: str
    symbol: str
    currency: str
    side: str
    type: str
    time_in_force: str
    broker: str
    order_created_at: datetime
    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    cumulative_quantity: Decimal  # filled so far, this event included
    request_initiator: str  # who made the order's last replace or cancel request so far ("" if none)

    @property
    def is_fill(self) -> bool:
        return self.kind in FILL_KINDS


# The period's orders (any event in [start, end)) and each one's whole timeline before the end:
# the earlier events give the terms in force. One query. A sequence number counts only if it was
# assigned before the end (the sequencer links events after they commit), so that a re-run never
# sees a number a first run could not.
_TIMELINE = """
SELECT e.id, e.order_id, e.kind, e.status_after, e.at, e.broker_at, e.initiator, e.data, u.username,
       s.sequence, o.client_order_id, ta.number, i.symbol, i.currency, o.side, o.type, o.time_in_force,
       o.broker, o.created_at
  FROM orders_orderevent e
  JOIN orders_order o ON o.id = e.order_id
  JOIN accounts_tradingaccount ta ON ta.id = o.account_id
  JOIN instruments_instrument i ON i.id = o.instrument_id
  JOIN users_user u ON u.id = e.actor_id
  LEFT JOIN orders_ordereventsequence s ON s.event_id = e.id AND s.assigned_at < %(end)s
 WHERE e.order_id IN (SELECT p.order_id FROM orders_orderevent p WHERE p.at >= %(start)s AND p.at < %(end)s)
   AND e.at < %(end)s
 ORDER BY e.at, e.id
"""


def timeline_in_period(period: Period) -> list[TimelineEvent]:
    """The order events whose ``at`` is in ``[period.start, period.end)``, ordered by (at, id),
    each with the terms and filled quantity its order had after it."""
    terms: dict[int, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
    filled: dict[int, Decimal] = defaultdict(lambda: ZERO)
    requested: dict[int, str] = {}
    result = []
    for row in _rows(_TIMELINE, {"start": period.start, "end": period.end}):
        (event_id, order_id, kind, status_after, at, broker_at, initiator, data, actor, sequence) = row[:10]
        data = event_data(data)
        if kind in TERMS_KINDS and "quantity" in data:
            terms[order_id] = (
                number(data.get("quantity")),
                number(data.get("limit_price")),
                number(data.get("stop_price")),
            )
        if kind in FILL_KINDS:
            cumulative = number(data.get("cumulative_quantity"))
            filled[order_id] = (
                cumulative if cumulative is not None else filled[order_id] + (number(data.get("quantity")) or ZERO)
            )
        if kind in REQUEST_KINDS:
            requested[order_id] = initiator
        if at < period.start:
            continue
        quantity, limit_price, stop_price = terms.get(order_id, (None, None, None))
        (coid, account_number, symbol, currency, side, order_type, tif, broker, created_at) = row[10:]
        result.append(
            TimelineEvent(
                id=event_id,
                order_id=order_id,
                kind=kind,
                status_after=status_after,
                at=utc(at),
                broker_at=utc(broker_at) if broker_at else None,
                initiator=initiator,
                data=data,
                actor=actor,
                sequence=sequence,
                client_order_id=coid,
                account_number=account_number,
                symbol=symbol,
                currency=currency,
                side=side,
                type=order_type,
                time_in_force=tif,
                broker=broker,
                order_created_at=utc(created_at),
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                cumulative_quantity=filled[order_id],
                request_initiator=requested.get(order_id, ""),
            )
        )
    return result


@dataclass(frozen=True)
class FillRow:
    id: int
    booked_at: datetime
    executed_at: datetime
    order_id: int
    client_order_id: str
    account_number: str
    symbol: str
    currency: str
    side: str
    broker: str
    exec_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    late: bool

    @property
    def notional(self) -> Decimal:
        return number(self.quantity * self.price) or ZERO


_FILLS = """
SELECT f.id, f.booked_at, f.executed_at, f.order_id, o.client_order_id, ta.number, i.symbol, i.currency, o.side,
       f.broker, f.exec_id, f.quantity, f.price, f.fee, f.late
  FROM orders_fill f
  JOIN orders_order o ON o.id = f.order_id
  JOIN accounts_tradingaccount ta ON ta.id = o.account_id
  JOIN instruments_instrument i ON i.id = o.instrument_id
 WHERE f.booked_at >= %(start)s AND f.booked_at < %(end)s
 ORDER BY f.booked_at, f.id
"""


def fills_in_period(period: Period) -> list[FillRow]:
    """The fills booked in ``[period.start, period.end)``, ordered by (booked_at, id)."""
    return [
        FillRow(
            id=row[0],
            booked_at=utc(row[1]),
            executed_at=utc(row[2]),
            order_id=row[3],
            client_order_id=row[4],
            account_number=row[5],
            symbol=row[6],
            currency=row[7],
            side=row[8],
            broker=row[9],
            exec_id=row[10],
            quantity=number(row[11]) or ZERO,
            price=number(row[12]) or ZERO,
            fee=number(row[13]) or ZERO,
            late=row[14],
        )
        for row in _rows(_FILLS, {"start": period.start, "end": period.end})
    ]


EVENT_HEADER = [
    "at",
    "event_id",
    "kind",
    "status_after",
    "order_id",
    "client_order_id",
    "account",
    "symbol",
    "side",
    "type",
    "quantity",
    "limit_price",
    "stop_price",
    "time_in_force",
    "broker",
    "actor",
    "initiator",
    "fill_exec_id",
    "fill_quantity",
    "fill_price",
    "fill_fee",
]

FILL_HEADER = [
    "booked_at",
    "fill_id",
    "executed_at",
    "order_id",
    "client_order_id",
    "account",
    "symbol",
    "currency",
    "side",
    "broker",
    "exec_id",
    "quantity",
    "price",
    "notional",
    "fee",
    "late",
]


def _event_row(e: TimelineEvent) -> list[Any]:
    fill = e.data if e.is_fill else {}
    return [
        stamp(e.at),
        e.id,
        e.kind,
        e.status_after,
        e.order_id,
        e.client_order_id,
        e.account_number,
        e.symbol,
        e.side,
        e.type,
        e.quantity,
        e.limit_price,
        e.stop_price,
        e.time_in_force,
        e.broker,
        e.actor,
        e.initiator,
        fill.get("exec_id", ""),
        number(fill.get("quantity")),
        number(fill.get("price")),
        number(fill.get("fee")),
    ]


def _fill_row(f: FillRow) -> list[Any]:
    return [
        stamp(f.booked_at),
        f.id,
        stamp(f.executed_at),
        f.order_id,
        f.client_order_id,
        f.account_number,
        f.symbol,
        f.currency,
        f.side,
        f.broker,
        f.exec_id,
        f.quantity,
        f.price,
        f.notional,
        f.fee,
        "true" if f.late else "false",
    ]


_STATUS_ORDER = {status.value: index for index, status in enumerate(Status)}
_KIND_ORDER = {kind: index for index, kind in enumerate(EventKind.values)}


def status_at_end(events: Iterable[TimelineEvent]) -> dict[int, str]:
    """Each order's status after its last event of the period (events come in (at, id) order)."""
    status: dict[int, str] = {}
    for e in events:
        status[e.order_id] = e.status_after
    return status


def _summary_pdf(period: Period, events: list[TimelineEvent], fills: list[FillRow]) -> bytes:
    status = status_at_end(events)
    by_status = Counter(status.values())
    by_kind = Counter(e.kind for e in events)
    per_symbol: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    per_account: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for f in fills:
        slot = per_symbol[(f.symbol, f.currency)]
        slot[0] += 1
        slot[1] += f.quantity
        slot[2] += f.notional
        account = per_account[(f.account_number, f.currency)]
        account[0] += 1
        account[1] += f.notional
    doc = render.PdfDocument(f"Trade blotter {period.business_date.isoformat()}")
    doc.pairs(
        [
            ("Period (UTC)", f"{period.start.isoformat()} to {period.end.isoformat()}"),
            ("Orders with events", str(len(status))),
            ("Order events", str(len(events))),
            ("Fills booked", str(len(fills))),
        ]
    )
    doc.heading("Orders by status at the period's end")
    doc.table(
        ["Status", "Orders"],
        [
            [name, str(count)]
            for name, count in sorted(by_status.items(), key=lambda kv: (_STATUS_ORDER.get(kv[0], 99), kv[0]))
        ],
    )
    doc.heading("Order events by kind")
    doc.table(
        ["Kind", "Events"],
        [
            [name, str(count)]
            for name, count in sorted(by_kind.items(), key=lambda kv: (_KIND_ORDER.get(kv[0], 99), kv[0]))
        ],
    )
    doc.heading("Fills per symbol")
    doc.table(
        ["Symbol", "Currency", "Fills", "Quantity", "Notional"],
        [
            [symbol, currency, str(int(count)), render.plain(quantity), render.money(notional)]
            for (symbol, currency), (count, quantity, notional) in sorted(per_symbol.items())
        ],
        numeric_from=2,
    )
    doc.heading(f"Top {TOP_ACCOUNTS} accounts by notional")
    top = sorted(per_account.items(), key=lambda kv: (-kv[1][1], kv[0]))[:TOP_ACCOUNTS]
    doc.table(
        ["Account", "Currency", "Fills", "Notional"],
        [
            [account, currency, str(int(count)), render.money(notional)]
            for (account, currency), (count, notional) in top
        ],
        numeric_from=2,
    )
    return doc.render()


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    events = timeline_in_period(period)
    fills = fills_in_period(period)
    stem = f"{KEY}-{period.business_date.isoformat()}"
    return [
        ReportContent(name=f"{stem}.pdf", content_type="application/pdf", data=_summary_pdf(period, events, fills)),
        ReportContent(
            name=f"{stem}-events.csv",
            content_type="text/csv",
            data=render.csv_bytes(EVENT_HEADER, (_event_row(e) for e in events)),
        ),
        ReportContent(
            name=f"{stem}-fills.csv",
            content_type="text/csv",
            data=render.csv_bytes(FILL_HEADER, (_fill_row(f) for f in fills)),
        ),
    ]


register(
    ReportKind(
        key=KEY,
        title="Trade blotter",
        scope=Scope.FIRM,
        generate=generate,
        description="Every order event and fill of the business date, firm-wide: events and fills as CSV, "
        "a PDF summary (orders by status, events by kind, notional per symbol, top accounts).",
    )
)
