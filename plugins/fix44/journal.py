"""The journal of received reports (``InboundReport``): written by the gateway's engine thread
before the engine counts a message as processed, read by ``poll`` and ``order_status`` from any
process, marked when the host acknowledges.

A message that cannot be mapped (malformed, or a kind the back office must not book silently,
such as a trade bust) is journaled with its problem and handed to the host as a report the
intake refuses, so it lands in the dead-letter queue with the raw message beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.brokers.interface import ExecType, ExecutionReport, OrderTicket
from plugins.fix44 import mapping
from plugins.fix44.models import InboundReport

BOOKED_TYPES = frozenset({"8", "9"})


def _map(message: mapping.FixMessage) -> ExecutionReport | None:
    if message.msg_type == "9":
        return mapping.cancel_reject(message)
    return mapping.execution_report(message)


# What a resent or PossDup copy of a message changes: framing, MsgSeqNum, SendingTime, the
# PossDup / PossResend flags, OrigSendingTime, LastMsgSeqNumProcessed.
_COPY_TAGS = frozenset({8, 9, 10, 34, 43, 52, 97, 122, 369})


def _bad_key(raw: str, message: mapping.FixMessage | None) -> str:
    """The key of a message that cannot be mapped: a digest of what it says, leaving out what a
    copy changes, so that a resent or PossDup copy finds the first one's row (one dead letter,
    not two); of the raw text when it could not be parsed at all."""
    said = raw if message is None else mapping.SOH.join(f"{t}={v}" for t, v in message.pairs if t not in _COPY_TAGS)
    return "bad-" + hashlib.sha256(said.encode()).hexdigest()[:40]


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
        exec_id=report.exec_id if report is not None else _bad_key(raw, message),
        order_id=report.order_id if report is not None else _order_id(message),
        account=((message.get(1) or "") if message is not None else "")[:64],
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


def record_local_rejection(session: str, ticket: OrderTicket, reason: str, now: datetime) -> InboundReport | None:
    """Journal the rejection of a new order that could not be sent over FIX (an order type or
    time in force the session does not carry), as the venue's own rejection would be: an
    ExecutionReport (150=8) with a stable exec id, so a resubmit and ``order_status`` answer it."""
    fields = [
        (8, "FIX.4.4"),
        (35, "8"),
        (49, "LOCAL"),
        (56, "LOCAL"),
        (34, "0"),
        (17, f"LOCAL-{ticket.order_id}-rejected"),
        (11, ticket.request_id or str(ticket.order_id)),
        (37, "NONE"),
        (150, "8"),
        (39, "8"),
        (1, ticket.account_number),
        (55, ticket.symbol),
        (54, "2" if ticket.side == "sell" else "1"),
        (38, mapping.fix_decimal(ticket.quantity) if ticket.quantity.is_finite() else "0"),
        (14, "0"),
        (151, "0"),
        (60, mapping.fix_time(now)),
        (58, reason.replace(mapping.SOH, " ")),
    ]
    raw = "".join(f"{tag}={value}{mapping.SOH}" for tag, value in fields)
    return record(session, raw, now)


def report_of(row: InboundReport) -> ExecutionReport:
    """The report a journal row hands to the host. One with a problem becomes a report the
    intake refuses, so it is dead-lettered, never lost: a fill of nothing (no quantity, no
    price: refused whatever the order's state, also when staff replay it) for the order its
    ClOrdID names, whose text says what the message was and why it was not booked."""
    if not row.problem:
        report = _map(mapping.parse(row.raw, validate=False))
        assert report is not None
        return _with_state(row, report) if row.msg_type == "9" else report
    return ExecutionReport(
        exec_id=row.exec_id,
        order_id=row.order_id or 0,
        exec_type=ExecType.FILL,
        last_quantity=Decimal(0),
        text=f"not booked, {row.problem} | raw: {row.raw.replace(mapping.SOH, '|')}"[:4000],
    )


def _with_state(row: InboundReport, report: ExecutionReport) -> ExecutionReport:
    """A cancel reject (9) carries no quantities: it changes nothing, so it reports the order's
    cumulative and leaves quantities as the venue's last report before it said them."""
    before = (
        InboundReport.objects.filter(
            session=row.session, order_id=row.order_id, msg_type="8", problem="", pk__lt=row.pk
        )
        .order_by("-pk")
        .first()
    )
    if before is None:
        return report
    state = _map(mapping.parse(before.raw, validate=False))
    if state is None:
        return report
    return dataclasses.replace(
        report, cumulative_quantity=state.cumulative_quantity, leaves_quantity=state.leaves_quantity
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
