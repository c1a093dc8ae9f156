"""The journal of received reports (``InboundReport``): written by the gateway's engine thread
before the engine counts a message as processed, read by ``poll`` and ``order_status`` from any
process, marked when the host acknowledges.

A message that cannot be mapped (malformed, or a kind the back office must not book silently,
such as a trade bust) is journaled with its problem and handed to the host as a report the
intake refuses, so it lands in the dead-letter queue with the raw message beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.brokers.interface import ExecType, ExecutionReport
from plugins.fix44 import mapping
from plugins.fix44.models import InboundReport

BOOKED_TYPES = frozenset({"8", "9"})


def _map(message: mapping.FixMessage) -> ExecutionReport | None:
    if message.msg_type == "9":
        return mapping.cancel_reject(message)
    return mapping.execution_report(message)


def _bad_key(raw: str) -> str:
    return "bad-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _order_id(message: mapping.FixMessage | None) -> int | None:
    if message is None:
        return None
    for tag in (11, 41):
        value = message.get(tag)
        if value:
            try:
                return mapping.order_id_of(value)
            except mapping.MalformedMessage:
                continue
    return None


def row_for(session: str, raw: str, now: datetime) -> InboundReport | None:
    """The journal row for one received message, unsaved; None for a message that is not booked
    (a status answer, a pending state)."""
    message: mapping.FixMessage | None = None
    problem = ""
    report: ExecutionReport | None = None
    try:
        message = mapping.parse(raw, validate=False)
        report = _map(message)
        if report is None:
            return None
    except (mapping.MalformedMessage, mapping.UnsupportedMessage) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    seq = message.get(34) if message is not None else None
    return InboundReport(
        session=session,
        exec_id=report.exec_id if report is not None else _bad_key(raw),
        order_id=report.order_id if report is not None else _order_id(message),
        msg_type=(message.msg_type if message is not None else "?")[:4],
        seq_num=int(seq) if seq and seq.isdigit() else 0,
        poss_dup=message is not None and message.get(43) == "Y",
        raw=raw,
        problem=problem,
        received_at=now,
    )


def record(session: str, raw: str, now: datetime) -> InboundReport | None:
    """Journal one received message durably (a copy already journaled changes nothing)."""
    row = row_for(session, raw, now)
    if row is None:
        return None
    with transaction.atomic(durable=True):
        InboundReport.objects.bulk_create([row], ignore_conflicts=True)
    return row


def report_of(row: InboundReport) -> ExecutionReport:
    """The report a journal row hands to the host. One with a problem becomes a report the
    intake refuses, so it is dead-lettered, never lost: a fill of nothing (no quantity, no
    price: refused whatever the order's state, also when staff replay it) for the order its
    ClOrdID names, whose text says what the message was and why it was not booked."""
    if not row.problem:
        report = _map(mapping.parse(row.raw, validate=False))
        assert report is not None
        return report
    return ExecutionReport(
        exec_id=row.exec_id,
        order_id=row.order_id or 0,
        exec_type=ExecType.FILL,
        last_quantity=Decimal(0),
        text=f"not booked, {row.problem} | raw: {row.raw.replace(mapping.SOH, '|')}"[:4000],
    )


def unacknowledged(session: str, limit: int = 500) -> list[ExecutionReport]:
    rows = InboundReport.objects.filter(session=session, acknowledged_at__isnull=True).order_by("id")[:limit]
    return [report_of(row) for row in rows]


def acknowledge(session: str, exec_ids: Sequence[str], now: datetime) -> None:
    if exec_ids:
        InboundReport.objects.filter(session=session, exec_id__in=list(exec_ids), acknowledged_at__isnull=True).update(
            acknowledged_at=now
        )


def reports_for(session: str, order_id: int) -> list[ExecutionReport]:
    """Every report the venue sent for the order, oldest first (what ``order_status`` answers)."""
    rows = InboundReport.objects.filter(session=session, order_id=order_id).order_by("id")
    return [report_of(row) for row in rows]
