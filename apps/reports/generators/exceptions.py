"""The exceptions report: every item still open at the period's end in the exception queues
(apps/compliance/queues.py), the compliance alerts not acknowledged then, each with its age.

"Open at the period's end" is decided from the records alone, as they stood at ``period.end``,
so that a re-run after later reviews, acknowledgements or replays yields the same bytes:

- an item counts only if it was in its queue before the end: a risk or broker rejection whose
  rejecting event (``status_after = rejected``) is before the end; an order with a late fill
  booked before the end; an execution report dead at the end (received before it, and either
  still dead or applied only at or after the end after having died: ``attempts > 1``); a
  reconciliation break found before the end; an alert raised before the end;
- it is open if it had no review (``ExceptionReview.reviewed_at``) or acknowledgement
  (``ComplianceAlert.acknowledged_at``) before the end. ``queue_filter_reviewed(reviewed=False)``
  is not used as is: it answers "not reviewed now", and a review made after the end would drop
  the item from a re-run. The same ``Exists`` on ``(queue, object_id)``, bounded by
  ``reviewed_at < end``, is applied instead.

Queue membership comes from the queue selectors where it can only grow (rejected orders stay
rejected; ``needs_review`` is never cleared; breaks are append-only), further bounded by time;
the dead-letter selector filters on the report's current status, which a replay changes, so that
queue is read from the records with the time-bounded rule above.

An item's "created at" is when it entered its queue: the rejection event, the first late fill's
booking, the report's receipt, the break's ``found_at``, the alert's ``raised_at``. Its age is
``period.end`` minus that, in hours (two decimals, half-even).

Files: ``exceptions-{date}.pdf`` (counts and oldest age per queue, the oldest items) and
``exceptions-{date}.csv`` (every open item, by queue, then created at, then id). Five queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum

from apps.brokers.models import ReportStatus
from apps.compliance.models import ComplianceAlert, DeadLetteredReport, ExceptionQueue, ExceptionReview
from apps.compliance.queues import QUEUES
from apps.orders.models import Fill, Order, OrderEvent
from apps.reports import render
from apps.reports.generators.blotter import stamp
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register

KEY = "exceptions"
ALERTS = "compliance_alert"
QUEUE_ORDER = [*ExceptionQueue.values, ALERTS]
QUEUE_LABELS = {**dict(ExceptionQueue.choices), ALERTS: "Unacknowledged compliance alerts"}
OLDEST_IN_PDF = 25
_HOUR = Decimal(3_600_000_000)  # microseconds
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Item:
    queue: str
    item_id: int
    account: str
    summary: str
    created_at: datetime


def age_hours(created_at: datetime, end: datetime) -> Decimal:
    return (Decimal((end - created_at) // timedelta(microseconds=1)) / _HOUR).quantize(_CENT, ROUND_HALF_EVEN)


def _open_at(queryset: QuerySet, *, queue: str, end: datetime) -> QuerySet:
    """The rows with no review recorded before ``end``."""
    reviewed = ExceptionReview.objects.filter(queue=queue, object_id=OuterRef("pk"), reviewed_at__lt=end)
    return queryset.filter(~Exists(reviewed))


def _risk_rejections(end: datetime) -> list[Item]:
    queue = ExceptionQueue.RISK_REJECTION
    rejected_at = (
        OrderEvent.objects.filter(order=OuterRef("pk"), status_after="rejected", at__lt=end)
        .order_by("at", "id")
        .values("at")[:1]
    )
    rows = (
        _open_at(QUEUES[queue]().annotate(entered_at=Subquery(rejected_at)), queue=queue, end=end)
        .filter(entered_at__isnull=False, created_at__lt=end)
        .values_list(
            "pk", "account__number", "reject_reason", "side", "quantity", "instrument__symbol", "type", "entered_at"
        )
    )
    return [
        Item(queue, pk, number, f"{reason}: {side} {render.plain(qty)} {symbol} {kind}", at)
        for pk, number, reason, side, qty, symbol, kind, at in rows
    ]


def _late_fills(end: datetime) -> list[Item]:
    queue = ExceptionQueue.LATE_FILL
    late = Fill.objects.filter(order=OuterRef("pk"), late=True, booked_at__lt=end).order_by().values("order")
    rows = (
        _open_at(
            QUEUES[queue]().annotate(
                entered_at=Subquery(late.annotate(first=Min("booked_at")).values("first")[:1]),
                late_before_end=Subquery(late.annotate(n=Count("id")).values("n")[:1]),
                late_quantity_before_end=Subquery(
                    late.annotate(q=Sum("quantity")).values("q")[:1],
                    output_field=DecimalField(max_digits=28, decimal_places=8),
                ),
            ),
            queue=queue,
            end=end,
        )
        .filter(entered_at__isnull=False, created_at__lt=end)
        .values_list(
            "pk",
            "account__number",
            "late_before_end",
            "late_quantity_before_end",
            "instrument__symbol",
            "side",
            "status",
            "entered_at",
        )
    )
    return [
        Item(
            queue,
            pk,
            number,
            f"{count} fill(s) of {render.plain(qty)} {symbol} booked after the {side} order ended ({status})",
            at,
        )
        for pk, number, count, qty, symbol, side, status, at in rows
    ]


def _dead_letters(end: datetime) -> list[Item]:
    queue = ExceptionQueue.DEAD_LETTER
    order = Order.objects.filter(pk=OuterRef("order_id"))
    dead_at_end = Q(status=ReportStatus.DEAD) | Q(applied_at__gte=end, attempts__gt=1)
    rows = (
        _open_at(DeadLetteredReport.objects.filter(dead_at_end, received_at__lt=end), queue=queue, end=end)
        .annotate(account_number=Subquery(order.values("account__number")[:1]))
        .values_list("pk", "account_number", "exec_type", "exec_id", "broker", "order_id", "received_at")
    )
    return [
        Item(queue, pk, number or "", f"{exec_type} report {exec_id} from {broker} for order {order_id}", at)
        for pk, number, exec_type, exec_id, broker, order_id, at in rows
    ]


def _breaks(end: datetime) -> list[Item]:
    queue = ExceptionQueue.RECONCILIATION_BREAK
    rows = _open_at(QUEUES[queue]().filter(found_at__lt=end), queue=queue, end=end).values_list(
        "pk", "account__number", "kind", "summary", "found_at"
    )
    return [Item(queue, pk, number or "", f"{kind}: {summary}", at) for pk, number, kind, summary, at in rows]


def _alerts(end: datetime) -> list[Item]:
    rows = (
        ComplianceAlert.objects.filter(raised_at__lt=end)
        .filter(Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gte=end))
        .values_list("pk", "severity", "kind", "summary", "raised_at")
    )
    return [Item(ALERTS, pk, "", f"{severity} {kind}: {summary}", at) for pk, severity, kind, summary, at in rows]


def open_items(period: Period) -> list[Item]:
    """Every item open at ``period.end``, by queue, then created at, then id."""
    end = period.end
    items = [*_risk_rejections(end), *_late_fills(end), *_dead_letters(end), *_breaks(end), *_alerts(end)]
    items = [
        Item(i.queue, i.item_id, i.account, " ".join(i.summary.split()), i.created_at.astimezone(UTC)) for i in items
    ]
    rank = {queue: index for index, queue in enumerate(QUEUE_ORDER)}
    return sorted(items, key=lambda i: (rank[i.queue], i.created_at, i.item_id))


HEADER = ["queue", "item_id", "account", "summary", "created_at", "age_hours"]


def _csv(items: Iterable[Item], end: datetime) -> bytes:
    return render.csv_bytes(
        HEADER,
        ([i.queue, i.item_id, i.account, i.summary, stamp(i.created_at), age_hours(i.created_at, end)] for i in items),
    )


def _short(value: str, limit: int = 90) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pdf(period: Period, items: list[Item]) -> bytes:
    end = period.end
    doc = render.PdfDocument(f"Exceptions report {period.business_date.isoformat()}", wide=True)
    doc.pairs(
        [
            ("As of (UTC)", end.isoformat()),
            ("Open items", str(len(items))),
        ]
    )
    doc.heading("Open items per queue")
    rows: list[list[Any]] = []
    for queue in QUEUE_ORDER:
        mine = [i for i in items if i.queue == queue]
        oldest = max((age_hours(i.created_at, end) for i in mine), default=None)
        rows.append([QUEUE_LABELS[queue], str(len(mine)), "" if oldest is None else render.text(oldest)])
    doc.table(["Queue", "Open", "Oldest (hours)"], rows)
    doc.heading(f"The {OLDEST_IN_PDF} oldest open items")
    oldest_first = sorted(items, key=lambda i: (i.created_at, QUEUE_ORDER.index(i.queue), i.item_id))
    doc.table(
        ["Queue", "Item", "Account", "Summary", "Age (hours)"],
        [
            [i.queue, str(i.item_id), i.account, _short(i.summary), render.text(age_hours(i.created_at, end))]
            for i in oldest_first[:OLDEST_IN_PDF]
        ],
        numeric_from=4,
    )
    if len(items) > OLDEST_IN_PDF:
        doc.line(_escape(f"{len(items) - OLDEST_IN_PDF} more in the CSV file."))
    return doc.render()


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    items = open_items(period)
    stem = f"{KEY}-{period.business_date.isoformat()}"
    return [
        ReportContent(name=f"{stem}.pdf", content_type="application/pdf", data=_pdf(period, items)),
        ReportContent(name=f"{stem}.csv", content_type="text/csv", data=_csv(items, period.end)),
    ]


register(
    ReportKind(
        key=KEY,
        title="Exceptions report",
        scope=Scope.FIRM,
        generate=generate,
        description="Items of the exception queues not reviewed, and compliance alerts not acknowledged, at the "
        "period's end, each with its age: a CSV of the items and a PDF summary per queue.",
    )
)
