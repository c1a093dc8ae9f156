"""The intake of execution reports: each report is recorded once per (broker, exec id) and
applied to its order in the same transaction. A duplicate or replay finds the record and
changes nothing; a report that cannot be applied is kept as a dead letter, never dropped."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.brokers.interface import ExecutionReport
from apps.brokers.models import ExecutionReportRecord, ReportStatus
from apps.core.actors import system_actor
from apps.core.db import atomic_with_retry
from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _payload(report: ExecutionReport) -> dict[str, object]:
    return dataclasses.asdict(report)


def _record_and_apply(broker: str, report: ExecutionReport, actor_id: int) -> str:
    from apps.orders.execution import apply_report

    with transaction.atomic():  # a savepoint: a duplicate is a unique violation on the record
        try:
            ExecutionReportRecord.objects.create(
                broker=broker,
                exec_id=report.exec_id,
                order_id=report.order_id,
                exec_type=report.exec_type,
                payload=_payload(report),
                status=ReportStatus.APPLIED,
                received_at=timezone.now(),
            )
        except IntegrityError:
            return "duplicate"
    apply_report(broker=broker, report=report, actor_id=actor_id)
    return "applied"


def receive(broker: str, report: ExecutionReport, *, actor_id: int | None = None) -> str:
    """Record and apply one report in its own transaction. Returns "applied", "duplicate" or "dead"."""
    actor = actor_id or system_actor().pk

    @atomic_with_retry()
    def attempt() -> str:
        return _record_and_apply(broker, report, actor)

    try:
        return attempt()
    except ApplicationError as exc:
        return _dead_letter(broker, report, f"{exc.code}: {exc.detail}")


def receive_many(broker: str, reports: Iterable[ExecutionReport]) -> list[str]:
    """Record and apply reports, one transaction per order (an acknowledgement and its fill
    commit together). If any report of an order cannot be applied, that order's reports are
    applied one by one instead, so the good ones are booked and the bad one dead-lettered."""
    actor_id = system_actor().pk
    by_order: dict[int, list[ExecutionReport]] = {}
    for report in reports:
        by_order.setdefault(report.order_id, []).append(report)
    outcomes: list[str] = []
    for group in by_order.values():
        if len(group) == 1:
            outcomes.append(receive(broker, group[0], actor_id=actor_id))
            continue

        @atomic_with_retry()
        def together(group: list[ExecutionReport] = group) -> list[str]:
            return [_record_and_apply(broker, report, actor_id) for report in group]

        try:
            outcomes += together()
        except ApplicationError:
            outcomes += [receive(broker, report, actor_id=actor_id) for report in group]
    return outcomes


@atomic_with_retry()
def _dead_letter(broker: str, report: ExecutionReport, error: str) -> str:
    logger.error("execution report %s:%s dead-lettered: %s", broker, report.exec_id, error)
    _, created = ExecutionReportRecord.objects.get_or_create(
        broker=broker,
        exec_id=report.exec_id,
        defaults={
            "order_id": report.order_id,
            "exec_type": report.exec_type,
            "payload": _payload(report),
            "status": ReportStatus.DEAD,
            "error": error,
            "received_at": timezone.now(),
        },
    )
    return "dead" if created else "duplicate"
