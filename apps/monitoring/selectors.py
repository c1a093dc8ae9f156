"""The business figures behind /metrics and /health/ready, read from the other apps (monitoring
owns no data). Each function is one query, whatever the size of the books: the open orders
through the partial index of open orders, today's flows through the BRIN indexes of events and
fills or the partial index of rejected orders, the backlogs through the partial indexes of the
outbox, the dead letters and the sequencers' queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Count, Min, Q, Value
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.brokers.models import ExecutionReportRecord, InstructionStatus, OrderInstruction, ReportStatus
from apps.brokers.selectors import OutboxBacklog, outbox_backlog_list
from apps.compliance import queues
from apps.compliance.models import ComplianceAlert, ExceptionQueue
from apps.ledger.models import UnsequencedTransaction
from apps.orders.models import EventKind, Fill, Order, OrderEvent, UnsequencedOrderEvent
from apps.orders.state import OPEN

#: the predicate of the partial index ``order_open_by_tif``, in its order
_TERMINAL = ["filled", "canceled", "rejected", "expired"]
#: the event that ends an order, and the status it ends in
_CLOSING = {
    EventKind.FILLED: "filled",
    EventKind.CANCELED: "canceled",
    EventKind.EXPIRED: "expired",
    EventKind.RISK_REJECTED: "rejected",
    EventKind.BROKER_REJECTED: "rejected",
}


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of ``now``'s day: the start of "today" for the flows."""
    return (now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)


def open_order_counts() -> dict[str, int]:
    """Open orders per status (every open status, 0 included)."""
    rows = Order.objects.exclude(status__in=_TERMINAL).order_by().values("status").annotate(n=Count("pk"))
    counts = dict.fromkeys(sorted(str(s) for s in OPEN), 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def closed_today_counts(now: datetime | None = None) -> dict[str, int]:
    """Orders that ended today (UTC), per final status: their closing events."""
    closing = Q()
    for kind, status in _CLOSING.items():
        closing |= Q(kind=kind, status_after=status)
    rows = (
        OrderEvent.objects.filter(closing, at__gte=day_start(now))
        .order_by()
        .values("status_after")
        .annotate(n=Count("pk"))
    )
    counts = dict.fromkeys(_TERMINAL, 0)
    counts.update({row["status_after"]: row["n"] for row in rows})
    return counts


def rejections_today_by_reason(now: datetime | None = None) -> dict[str, int]:
    """Orders placed today and rejected, per reason code (a risk check's, or ``broker_rejected``)."""
    rows = (
        Order.objects.filter(status="rejected", created_at__gte=day_start(now))
        .order_by()
        .values("reject_reason")
        .annotate(n=Count("pk"))
    )
    return {row["reject_reason"] or "unknown": row["n"] for row in rows}


def fills_today_by_broker(now: datetime | None = None) -> dict[str, int]:
    """Fills booked today (UTC), per broker."""
    rows = Fill.objects.filter(booked_at__gte=day_start(now)).order_by().values("broker").annotate(n=Count("pk"))
    return {row["broker"]: row["n"] for row in rows}


def outbox_backlogs() -> list[OutboxBacklog]:
    """Per broker with anything in the outbox: how many instructions, and since when."""
    return outbox_backlog_list()


def dead_letter_counts() -> dict[tuple[str, str], int]:
    """Dead letters per (kind, broker): outbox instructions the relay gave up on ("instruction")
    and execution reports the intake could not apply ("report")."""
    instructions = (
        OrderInstruction.objects.filter(status=InstructionStatus.DEAD)
        .order_by()
        .annotate(kind=Value("instruction", output_field=CharField()))
        .values("kind", "broker")
        .annotate(n=Count("pk"))
    )
    reports = (
        ExecutionReportRecord.objects.filter(status=ReportStatus.DEAD)
        .order_by()
        .annotate(kind=Value("report", output_field=CharField()))
        .values("kind", "broker")
        .annotate(n=Count("pk"))
    )
    return {(row["kind"], row["broker"]): row["n"] for row in instructions.union(reports, all=True)}


def exception_queue_counts() -> dict[str, int]:
    """Each exception queue's items nobody has reviewed yet."""
    counted = [
        queues.queue_filter_reviewed(queues.queue_list(queue), queue=queue, reviewed=False)
        .order_by()
        .annotate(queue_key=Value(str(queue), output_field=CharField()))
        .values("queue_key")
        .annotate(n=Count("pk"))
        for queue in ExceptionQueue
    ]
    counts = {str(queue.value): 0 for queue in ExceptionQueue}
    counts.update({row["queue_key"]: row["n"] for row in counted[0].union(*counted[1:], all=True)})
    return counts


@dataclass(frozen=True)
class SequencerLag:
    """Records committed but not yet numbered and chained, and how long the oldest has waited."""

    chain: str
    waiting: int
    oldest_age: timedelta | None


def sequencer_lag_list(now: datetime | None = None) -> list[SequencerLag]:
    """The ledger's (``ledger``) and the order events' (``order_events``) sequencer backlogs."""
    now = now or timezone.now()
    ledger = (
        UnsequencedTransaction.objects.order_by()
        .annotate(chain=Value("ledger", output_field=CharField()))
        .values("chain")
        .annotate(waiting=Count("pk"), oldest_at=Min("transaction__posted_at"))
    )
    events = (
        UnsequencedOrderEvent.objects.order_by()
        .annotate(chain=Value("order_events", output_field=CharField()))
        .values("chain")
        .annotate(waiting=Count("pk"), oldest_at=Min("event__at"))
    )
    found = {row["chain"]: row for row in ledger.union(events, all=True)}
    lags = []
    for chain in ("ledger", "order_events"):
        row = found.get(chain)
        oldest = row["oldest_at"] if row else None
        lags.append(
            SequencerLag(
                chain=chain,
                waiting=row["waiting"] if row else 0,
                oldest_age=max(now - oldest, timedelta(0)) if oldest else None,
            )
        )
    return lags


def unacknowledged_alert_counts() -> dict[str, int]:
    """Compliance alerts nobody has acknowledged, per severity."""
    rows = (
        ComplianceAlert.objects.filter(acknowledged_at__isnull=True)
        .order_by()
        .values("severity")
        .annotate(n=Count("pk"))
    )
    return {row["severity"]: row["n"] for row in rows}


def beat_last_run(task_name: str | None = None) -> datetime | None:
    """When beat last ran the heartbeat task (``HEALTH_BEAT_TASK``, a task every few seconds);
    None if it never did (or is not scheduled). django-celery-beat writes it back every few
    minutes, not at every run."""
    name = task_name or str(settings.HEALTH_BEAT_TASK)
    return PeriodicTask.objects.filter(name=name).values_list("last_run_at", flat=True).first()
