"""The exception queues a supervisor works through: what belongs to each queue, and who reviewed
each item and when (selectors; the review itself is ``services.exception_review_record``).

Each queue is a queryset of other apps' rows, annotated with its review from
``ExceptionReview`` by correlated subqueries on the unique (queue, object_id) key — one query for
a whole page, never a lookup per row.
"""

from __future__ import annotations

from django.db.models import Count, DecimalField, Exists, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.compliance.models import (
    DeadLetteredReport,
    ExceptionQueue,
    ExceptionReview,
    LateFillOrder,
    ReconciliationBreak,
    RiskRejection,
)
from apps.orders.models import Fill, Order

#: the annotations every queue row carries (None when not reviewed yet)
REVIEW_FIELDS = ("review_by", "review_at", "review_note")


def _reviews(queue: str) -> QuerySet[ExceptionReview]:
    return ExceptionReview.objects.filter(queue=queue, object_id=OuterRef("pk"))


def review_annotate(queryset: QuerySet, *, queue: str) -> QuerySet:
    """Add ``review_by`` (user name), ``review_at`` and ``review_note`` to each row."""
    reviews = _reviews(queue)
    return queryset.annotate(
        review_by=Subquery(reviews.values("reviewed_by__username")[:1]),
        review_at=Subquery(reviews.values("reviewed_at")[:1]),
        review_note=Subquery(reviews.values("note")[:1]),
    )


def queue_filter_reviewed(queryset: QuerySet, *, queue: str, reviewed: bool) -> QuerySet:
    """Only the reviewed items (``reviewed=True``) or only those still waiting."""
    exists = Exists(_reviews(queue))
    return queryset.filter(exists if reviewed else ~exists)


def risk_rejection_list() -> QuerySet[RiskRejection]:
    """Orders refused at placement by a risk check (reason code = the check), or rejected by the
    broker (reason ``broker_rejected``)."""
    return RiskRejection.objects.filter(status="rejected")


def late_fill_list() -> QuerySet[LateFillOrder]:
    """Orders that received a fill after they were canceled or expired, with how many such fills
    and their quantity."""
    late = Fill.objects.filter(order=OuterRef("pk"), late=True).order_by().values("order")
    return LateFillOrder.objects.filter(needs_review=True).annotate(
        late_fills=Coalesce(Subquery(late.annotate(n=Count("id")).values("n")[:1]), Value(0)),
        late_quantity=Subquery(
            late.annotate(q=Sum("quantity")).values("q")[:1],
            output_field=DecimalField(max_digits=28, decimal_places=8),
        ),
    )


def dead_letter_list() -> QuerySet[DeadLetteredReport]:
    """Execution reports that could not be applied, with their order's account (the report
    stores the order id only)."""
    order = Order.objects.filter(pk=OuterRef("order_id"))
    return DeadLetteredReport.objects.filter(status="dead").annotate(
        account_number=Subquery(order.values("account__number")[:1]),
    )


def reconciliation_break_list() -> QuerySet[ReconciliationBreak]:
    """Every break reconciliation found (a break stays in the queue; reviewing it closes it)."""
    return ReconciliationBreak.objects.all()


QUEUES = {
    ExceptionQueue.RISK_REJECTION: risk_rejection_list,
    ExceptionQueue.LATE_FILL: late_fill_list,
    ExceptionQueue.DEAD_LETTER: dead_letter_list,
    ExceptionQueue.RECONCILIATION_BREAK: reconciliation_break_list,
}


def queue_list(queue: str) -> QuerySet:
    """The items of one queue, reviewed or not (unknown queue: KeyError)."""
    return QUEUES[ExceptionQueue(queue)]()
