"""Compliance writes: raising and acknowledging alerts, recording exception reviews and the
runs of the controls."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.compliance.models import CheckRun, ComplianceAlert, ExceptionQueue, ExceptionReview, Severity
from apps.core.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from apps.users.models import User

logger = logging.getLogger("apps.compliance.alerts")

#: the stable event name of every alert's log line (``extra["event"]``, and its first word)
ALERT_EVENT = "compliance_alert"


def compliance_alert_raise(
    *, kind: str, summary: str, details: dict[str, Any] | None = None, severity: str = Severity.CRITICAL
) -> ComplianceAlert:
    """Store an alert for compliance staff and log it (CRITICAL for critical alerts) with the
    stable event name ``compliance_alert``, so that log-based paging picks it up too."""
    with transaction.atomic():
        alert = ComplianceAlert.objects.create(
            kind=kind, severity=severity, summary=summary, details=details or {}, raised_at=timezone.now()
        )
    level = logging.CRITICAL if severity == Severity.CRITICAL else logging.WARNING
    logger.log(
        level,
        "%s kind=%s alert=%s: %s",
        ALERT_EVENT,
        kind,
        alert.pk,
        summary,
        extra={"event": ALERT_EVENT, "alert_id": alert.pk, "alert_kind": kind, "severity": severity},
    )
    return alert


def check_run_record(
    *,
    kind: str,
    started_at: datetime,
    ok: bool,
    summary: str,
    details: dict[str, Any] | None = None,
    actor: User | None = None,
) -> CheckRun:
    """Record one run of a control (``CheckKind``), passed or failed, finished now. Called by the
    verifications and the reconciliation after their own work has committed (or failed), in its
    own transaction: a run's record never rolls back with what it checked."""
    with transaction.atomic():
        return CheckRun.objects.create(
            kind=kind,
            started_at=started_at,
            finished_at=max(timezone.now(), started_at),
            ok=ok,
            summary=summary,
            details=details or {},
            run_by=actor,
        )


@contextmanager
def check_run_errors(kind: str, started_at: datetime, *, refusals: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Record a failed run when the control itself raised (it did not run to the end), then let
    the error through. ``refusals``: errors that mean the control was not started at all (another
    run holds the lock), recorded as nothing. A failure to record is logged, never hides the error."""
    try:
        yield
    except refusals:
        raise
    except Exception as error:
        try:
            check_run_record(
                kind=kind,
                started_at=started_at,
                ok=False,
                summary=f"Did not complete: {type(error).__name__}: {error}"[:2000],
                details={"error": type(error).__name__},
            )
        except Exception:
            logger.exception("could not record the failed %s run", kind)
        raise


# --- acknowledging alerts ---------------------------------------------------------------


@dataclass(frozen=True)
class AcknowledgeOutcome:
    acknowledged: list[int]
    already: list[int]


def compliance_alert_acknowledge(*, actor: User, alert_ids: Iterable[int]) -> AcknowledgeOutcome:
    """Acknowledge alerts, once each: an alert already acknowledged keeps who and when it was
    first acknowledged (and is reported in ``already``). Saved row by row so that the audit log
    records each acknowledgement (``ComplianceAlert`` is audited)."""
    ids = sorted(set(alert_ids))
    if not ids:
        raise ValidationError("Select at least one alert.", code="nothing_selected")
    done: list[int] = []
    already: list[int] = []
    with transaction.atomic(durable=True):
        alerts = list(
            ComplianceAlert.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=ids).order_by("pk")
        )
        missing = set(ids) - {a.pk for a in alerts}
        if missing:
            raise NotFound(f"No compliance alert {', '.join(map(str, sorted(missing)))}.", code="alert_not_found")
        now = timezone.now()
        for alert in alerts:
            if alert.acknowledged_at is not None:
                already.append(alert.pk)
                continue
            alert.acknowledged_by = actor
            alert.acknowledged_at = now
            alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
            done.append(alert.pk)
    return AcknowledgeOutcome(acknowledged=done, already=already)


# --- reviewing the exception queues -----------------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    recorded: list[ExceptionReview]
    already_reviewed: list[int]


def exception_review_record(*, actor: User, queue: str, object_ids: Iterable[int], note: str) -> ReviewOutcome:
    """Record the actor's review, with its note, of each item of one exception queue, in one
    transaction. The note is required. Every item must be in the queue, or nothing is recorded.
    An item reviewed before keeps its first review (reviews are append-only): it is skipped and
    returned in ``already_reviewed`` — reviewing twice is a no-op, not an error."""
    from apps.compliance.queues import queue_list

    if queue not in ExceptionQueue.values:
        raise ValidationError(f"Unknown exception queue {queue!r}.", code="unknown_queue")
    note = (note or "").strip()
    if not note:
        raise ValidationError("A review needs a note.", code="review_note_required")
    ids = sorted(set(int(i) for i in object_ids))
    if not ids:
        raise ValidationError("Select at least one item to review.", code="nothing_selected")
    recorded: list[ExceptionReview] = []
    already: list[int] = []
    with transaction.atomic(durable=True):
        present = set(queue_list(queue).filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in present]
        if missing:
            raise NotFound(
                f"Not in the {ExceptionQueue(queue).label.lower()} queue: {', '.join(map(str, missing))}.",
                code="exception_not_found",
            )
        now = timezone.now()
        for object_id in ids:
            try:
                with transaction.atomic():  # a savepoint: a concurrent review wins, this one is skipped
                    review = ExceptionReview.objects.create(
                        queue=queue, object_id=object_id, reviewed_by=actor, reviewed_at=now, note=note
                    )
            except IntegrityError:
                already.append(object_id)
            else:
                recorded.append(review)
    return ReviewOutcome(recorded=recorded, already_reviewed=already)
