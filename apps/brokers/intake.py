"""The intake of execution reports: each report is recorded once per (broker, exec id) and
applied to its order in the same transaction. A duplicate or replay finds the record and
changes nothing; a report that cannot be applied, for whatever reason, is kept as a dead letter,
never dropped, and only then acknowledged to the adapter (which hands out again, by ``poll``,
whatever was not acknowledged: a worker that dies before the commit loses nothing).

A redelivered report whose record is dead is tried again (its cause may be fixed), and staff can
replay a dead letter from the admin (``report_replay``), with a reason, recorded.

Only a lost database connection is not dead-lettered: the report is then not acknowledged
either, and comes back with the next poll.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from apps.brokers import metrics
from apps.brokers.interface import FILL_TYPES, ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord, ReportReplay, ReportStatus
from apps.brokers.sinks import order_side
from apps.core import faults
from apps.core.actors import system_actor
from apps.core.db import atomic_with_retry
from apps.core.decimals import check_scale
from apps.core.errors import ApplicationError, BusinessRuleViolation, ValidationError

if TYPE_CHECKING:
    from apps.users.models import User

logger = logging.getLogger(__name__)

EXEC_ID_MAX = 128
ORDER_ID_MAX = 2**63 - 1
_DECIMALS = ("last_quantity", "fee", "cumulative_quantity", "leaves_quantity")
_OPTIONAL_DECIMALS = ("last_price", "quantity", "limit_price", "stop_price")
# The database went away: not the report's fault. It stays unacknowledged and comes back.
_NOT_THE_REPORTS_FAULT = (OperationalError, InterfaceError)


class InvalidReport(ValidationError):
    code = "invalid_report"


class ReportNotDead(BusinessRuleViolation):
    code = "report_not_dead"


def _payload(report: ExecutionReport) -> dict[str, object]:
    """The report's fields as recorded. A report's fields are flat values (no nested
    dataclasses or containers to copy), so a shallow read equals ``dataclasses.asdict`` at a
    fraction of its cost; anything else keeps its ``repr``."""
    try:
        names = _FIELD_NAMES.get(type(report))
        if names is None:
            names = _FIELD_NAMES[type(report)] = tuple(f.name for f in dataclasses.fields(report))
        payload = {name: getattr(report, name) for name in names}
        if any(
            isinstance(value, (list, dict, set, tuple)) or dataclasses.is_dataclass(value) for value in payload.values()
        ):
            return dataclasses.asdict(report)
        return payload
    except Exception:  # not a dataclass, or a field that cannot be copied: keep what can be read
        return {"repr": repr(report)[:2000]}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def report_key(report: ExecutionReport) -> str:
    """The exec id the report is recorded under: its own, or for one that cannot be stored
    (empty, too long, not a string) a stable digest of it, so a redelivery still finds it."""
    exec_id = getattr(report, "exec_id", None)
    if isinstance(exec_id, str) and 0 < len(exec_id) <= EXEC_ID_MAX and "\x00" not in exec_id:
        return exec_id
    return "invalid:" + hashlib.sha256(repr(exec_id).encode()).hexdigest()[:48]


def _order_id(report: ExecutionReport) -> int:
    order_id = getattr(report, "order_id", None)
    return order_id if isinstance(order_id, int) and 0 < order_id <= ORDER_ID_MAX else 0


def problems(report: ExecutionReport) -> list[str]:
    """What makes a report impossible to book, whatever the order's state (empty: none)."""
    found = []
    if report_key(report) != getattr(report, "exec_id", None):
        found.append(f"the exec id must be 1 to {EXEC_ID_MAX} characters")
    if _order_id(report) == 0:
        found.append("the order id is not one of ours")
    if not isinstance(getattr(report, "exec_type", None), ExecType):
        found.append(f"unknown exec type {getattr(report, 'exec_type', None)!r}")
    for name in (*_DECIMALS, *_OPTIONAL_DECIMALS):
        value = getattr(report, name, None)
        if value is None and name in _OPTIONAL_DECIMALS:
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            found.append(f"{name} is not a finite Decimal: {value!r}")
            continue
        try:
            check_scale(value, scale=8)
        except ApplicationError:
            found.append(f"{name} {value} does not fit 20 integer and 8 decimal digits")
    if not found and report.exec_type in FILL_TYPES:
        if report.last_quantity <= 0:
            found.append("a fill needs a positive quantity")
        if report.last_price is None or report.last_price <= 0:
            found.append("a fill needs a positive price")
    time = getattr(report, "broker_time", None)
    if time is not None and (not isinstance(time, datetime) or time.utcoffset() is None):
        found.append("broker_time must be a timezone-aware datetime")
    return found


def _apply(broker: str, report: ExecutionReport, actor_id: int) -> None:
    found = problems(report)
    if found:
        raise InvalidReport("; ".join(found))
    order_side().apply_report(broker=broker, report=report, actor_id=actor_id)


def _record_and_apply(broker: str, report: ExecutionReport, actor_id: int) -> str:
    """In the caller's transaction: record the report and apply it; "duplicate" if it was
    applied before; a dead record of the same exec id is tried again."""
    key = report_key(report)
    with transaction.atomic():  # a savepoint: a duplicate is a unique violation on the record
        try:
            ExecutionReportRecord.objects.create(
                broker=broker,
                exec_id=key,
                order_id=_order_id(report),
                exec_type=str(getattr(report, "exec_type", ""))[:20],
                payload=_payload(report),
                status=ReportStatus.APPLIED,
                received_at=timezone.now(),
                applied_at=timezone.now(),
            )
            created = True
        except IntegrityError:
            created = False
    if not created:
        record = ExecutionReportRecord.objects.select_for_update().get(broker=broker, exec_id=key)
        if record.status == ReportStatus.APPLIED:
            return "duplicate"
        _apply(broker, report, actor_id)  # redelivered after it died: its cause may be gone
        record.status, record.error, record.applied_at = ReportStatus.APPLIED, "", timezone.now()
        record.attempts += 1
        record.save(update_fields=["status", "error", "applied_at", "attempts"])
        return "applied"
    _apply(broker, report, actor_id)
    return "applied"


def receive(broker: str, report: ExecutionReport, *, actor_id: int | None = None) -> str:
    """Record and apply one report in its own transaction, then acknowledge it.
    Returns "applied", "duplicate" or "dead"."""
    return receive_many(broker, [report], actor_id=actor_id)[0]


def _receive_one(broker: str, report: ExecutionReport, actor_id: int) -> str:
    with structlog.contextvars.bound_contextvars(order_id=_order_id(report) or None):  # in its log lines
        return _receive_one_bound(broker, report, actor_id)


def _receive_one_bound(broker: str, report: ExecutionReport, actor_id: int) -> str:
    @atomic_with_retry()
    def attempt() -> str:
        outcome = _record_and_apply(broker, report, actor_id)
        faults.point("intake.report.before_commit")
        return outcome

    try:
        return attempt()
    except _NOT_THE_REPORTS_FAULT:
        raise
    except ApplicationError as exc:
        return _dead_letter(broker, report, f"{exc.code}: {exc.detail}")
    except Exception as exc:
        logger.exception("execution report %s:%s could not be applied", broker, report_key(report))
        return _dead_letter(broker, report, f"{type(exc).__name__}: {exc}"[:4000])


def receive_many(broker: str, reports: Sequence[ExecutionReport], *, actor_id: int | None = None) -> list[str]:
    """Record and apply reports, all in one transaction (``_receive_batch``), then acknowledge
    them all to the adapter. If any report of the batch cannot be applied, the batch is rolled
    back and its reports are booked one transaction per order (an acknowledgement and its fill
    commit together), and within an order that fails, one by one: the good ones are booked and
    the bad one dead-lettered. Outcomes are in the order of ``reports``."""
    started = time.perf_counter()
    actor = actor_id or system_actor().pk
    outcomes: list[str] | None = None
    if len(reports) > 1:
        outcomes = _receive_batch(broker, reports, actor)
    if outcomes is None:
        outcomes = _receive_by_order(broker, reports, actor)
    acknowledge(broker, [report_key(r) for r in reports if isinstance(getattr(r, "exec_id", None), str)])
    if reports:
        metrics.INTAKE_BATCH_SECONDS.labels(broker).observe(time.perf_counter() - started)
        for outcome, count in Counter(outcomes).items():
            metrics.INTAKE_REPORTS.labels(broker, outcome).inc(count)
    return outcomes


def _receive_by_order(broker: str, reports: Sequence[ExecutionReport], actor: int) -> list[str]:
    outcomes: list[str] = [""] * len(reports)
    for indexes in _by_order(reports).values():
        group = [reports[i] for i in indexes]
        results = _receive_group(broker, group, actor) if len(group) > 1 else [_receive_one(broker, group[0], actor)]
        for i, outcome in zip(indexes, results, strict=True):
            outcomes[i] = outcome
    return outcomes


def _by_order(reports: Sequence[ExecutionReport]) -> dict[int, list[int]]:
    by_order: dict[int, list[int]] = {}
    for index, report in enumerate(reports):
        by_order.setdefault(_order_id(report), []).append(index)
    return by_order


class _NotForTheBatch(Exception):
    """A report of the batch needs the one-by-one path (a dead letter redelivered)."""


_RECORD = """
INSERT INTO brokers_executionreport
    (broker, exec_id, order_id, exec_type, payload, status, error, received_at, attempts, applied_at)
SELECT %(broker)s, r.exec_id, r.order_id, r.exec_type, r.payload, 'applied', '', %(now)s, 1, %(now)s
  FROM unnest(%(exec_ids)s::text[], %(order_ids)s::bigint[], %(exec_types)s::text[], %(payloads)s::jsonb[])
       AS r(exec_id, order_id, exec_type, payload)
ON CONFLICT (broker, exec_id) DO NOTHING
RETURNING exec_id
"""


def _record_all(broker: str, reports: list[ExecutionReport], now: datetime) -> set[str]:
    """Record the reports (one statement); returns the exec ids that were new."""
    params: dict[str, Any] = {
        "broker": broker,
        "now": now,
        "exec_ids": [r.exec_id for r in reports],
        "order_ids": [r.order_id for r in reports],
        "exec_types": [str(r.exec_type)[:20] for r in reports],
        "payloads": [json.dumps(_payload(r), cls=DjangoJSONEncoder) for r in reports],
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD, params)
        return {row[0] for row in cursor.fetchall()}


def _receive_batch(broker: str, reports: Sequence[ExecutionReport], actor_id: int) -> list[str] | None:
    """Every valid report of the batch recorded with one statement and applied in one
    transaction (``apply_reports``: each row locked once, up front); a report whose exec id is
    already applied is a duplicate. Invalid reports are then dead-lettered on their own.
    Returns None (nothing committed) when the batch must take the per-order path instead."""
    valid = [i for i, r in enumerate(reports) if not problems(r)]
    outcomes: list[str] = [""] * len(reports)

    @atomic_with_retry()
    def together() -> None:
        chosen = [reports[i] for i in valid]
        new = _record_all(broker, chosen, timezone.now())
        seen: set[str] = set()
        applying: list[int] = []
        for i in valid:
            key = reports[i].exec_id
            fresh = key in new and key not in seen
            seen.add(key)
            outcomes[i] = "applied" if fresh else "duplicate"
            if fresh:
                applying.append(i)
        old = {reports[i].exec_id for i in valid} - new
        if (
            old
            and ExecutionReportRecord.objects.filter(broker=broker, exec_id__in=old)
            .exclude(status=ReportStatus.APPLIED)
            .exists()
        ):
            raise _NotForTheBatch  # a dead letter comes again: tried on its own
        sub = [reports[i] for i in applying]  # applied order by order, as the per-order path does
        order_side().apply_reports(
            broker=broker, reports=[sub[k] for ks in _by_order(sub).values() for k in ks], actor_id=actor_id
        )
        faults.point("intake.batch.before_commit")

    try:
        together()
    except _NOT_THE_REPORTS_FAULT:
        raise
    except Exception:
        return None
    valid_set = set(valid)
    for i, report in enumerate(reports):
        if i not in valid_set:
            outcomes[i] = _receive_one(broker, report, actor_id)
    return outcomes


def _receive_group(broker: str, group: list[ExecutionReport], actor_id: int) -> list[str]:
    @atomic_with_retry()
    def together() -> list[str]:
        outcomes = [_record_and_apply(broker, report, actor_id) for report in group]
        faults.point("intake.group.before_commit")
        return outcomes

    try:
        return together()
    except _NOT_THE_REPORTS_FAULT:
        raise
    except Exception:
        return [_receive_one(broker, report, actor_id) for report in group]


def acknowledge(broker: str, exec_ids: list[str]) -> None:
    """Tell the adapter these reports are durably recorded (after commit). A failure here costs a
    redelivery, which the intake answers as a duplicate: it is logged, never raised."""
    if not exec_ids:
        return
    from apps.brokers import registry

    faults.point("intake.before_acknowledge")
    try:
        registry.get_adapter(broker).acknowledge(exec_ids)
    except Exception:
        logger.warning("could not acknowledge %d reports to %s", len(exec_ids), broker, exc_info=True)


@atomic_with_retry()
def _dead_letter(broker: str, report: ExecutionReport, error: str) -> str:
    """Keep the report as a dead letter (or count another failed try of one). "duplicate" if a
    concurrent delivery applied it meanwhile."""
    key = report_key(report)
    logger.error("execution report %s:%s dead-lettered: %s", broker, key, error)
    record, created = ExecutionReportRecord.objects.select_for_update().get_or_create(
        broker=broker,
        exec_id=key,
        defaults={
            "order_id": _order_id(report),
            "exec_type": str(getattr(report, "exec_type", ""))[:20],
            "payload": _payload(report),
            "status": ReportStatus.DEAD,
            "error": error,
            "received_at": timezone.now(),
        },
    )
    if created:
        return "dead"
    if record.status == ReportStatus.APPLIED:
        return "duplicate"
    record.error = error
    record.attempts += 1
    record.save(update_fields=["error", "attempts"])
    return "dead"


def report_from_payload(payload: dict[str, Any]) -> ExecutionReport:
    """The report a record stores, as the adapter handed it over."""
    if "exec_id" not in payload:
        raise InvalidReport("The stored report could not be read back (it was not a report).")
    values: dict[str, Any] = dict(payload)
    for name in (*_DECIMALS, *_OPTIONAL_DECIMALS):
        if values.get(name) is not None:
            values[name] = Decimal(str(values[name]))
    if values.get("broker_time"):
        values["broker_time"] = datetime.fromisoformat(str(values["broker_time"]))
    try:
        values["exec_type"] = ExecType(values["exec_type"])
        fields = {f.name for f in dataclasses.fields(ExecutionReport)}
        return ExecutionReport(**{k: v for k, v in values.items() if k in fields})
    except (ValueError, TypeError) as exc:
        raise InvalidReport(f"The stored report could not be read back: {exc}") from exc


def report_replay(*, actor: User, record_id: int, reason: str) -> ReportReplay:
    """Staff re-apply a dead-lettered report once, with a reason: it is booked now (the record
    becomes applied) or stays dead with the new error. Either way the replay is recorded."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("A reason is required to replay a report.", field="reason")

    @atomic_with_retry()
    def attempt() -> ReportReplay:
        record = ExecutionReportRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None:
            raise ValidationError(f"No execution report {record_id}.", code="report_not_found")
        if record.status != ReportStatus.DEAD:
            raise ReportNotDead(
                f"Report {record.broker}:{record.exec_id} is {record.status}: only a dead letter replays."
            )
        now = timezone.now()
        outcome, error = ReportStatus.APPLIED, ""
        try:
            with transaction.atomic():
                report = report_from_payload(record.payload)
                if report_key(report) != record.exec_id:
                    raise InvalidReport("The stored report's exec id does not match its record.")
                _apply(record.broker, report, actor.pk)
        except _NOT_THE_REPORTS_FAULT:
            raise
        except ApplicationError as exc:
            outcome, error = ReportStatus.DEAD, f"{exc.code}: {exc.detail}"
        except Exception as exc:
            outcome, error = ReportStatus.DEAD, f"{type(exc).__name__}: {exc}"[:4000]
        record.attempts += 1
        if outcome == ReportStatus.APPLIED:
            record.status, record.error, record.applied_at = ReportStatus.APPLIED, "", now
        else:
            record.error = error
        record.save(update_fields=["status", "error", "applied_at", "attempts"])
        return ReportReplay.objects.create(
            report=record, actor=actor, reason=reason.strip(), outcome=outcome, error=error, at=now
        )

    return attempt()
