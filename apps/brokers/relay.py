"""The relay: claims ready outbox instructions (``SKIP LOCKED``, the oldest per order first),
hands them to the brokers outside any lock, and feeds the answers to the intake.

A call that times out leaves the instruction ``unknown``: the next run asks the broker for
the order's status instead of sending it again. Transient errors back off exponentially;
after ``MAX_ATTEMPTS`` the instruction is dead-lettered for staff to inspect.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.brokers import intake, registry
from apps.brokers.interface import BrokerError, BrokerTimeout, ExecType, ExecutionReport, ReplaceRequest
from apps.brokers.models import InstructionStatus, OrderInstruction
from apps.brokers.tickets import ticket_for
from apps.core.actors import system_actor
from apps.orders.events import event
from apps.orders.models import EventKind, Initiator, Order, OrderEvent

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def stale_after() -> timedelta:
    """How long an instruction may stay in flight before its worker is presumed dead."""
    return timedelta(seconds=int(settings.BROKERS_RELAY_STALE_SECONDS))


_CLAIM = """
WITH claimed AS (
    SELECT c.id, c.status FROM brokers_orderinstruction c
     WHERE c.status IN ('pending', 'unknown') AND c.available_at <= %(now)s
       AND NOT EXISTS (SELECT 1 FROM brokers_orderinstruction e
                        WHERE e.order_id = c.order_id AND e.id < c.id
                          AND e.status IN ('pending', 'unknown', 'in_flight'))
     ORDER BY c.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
UPDATE brokers_orderinstruction AS i SET status = 'in_flight', claimed_at = %(now)s, attempts = i.attempts + 1
  FROM claimed WHERE i.id = claimed.id
RETURNING i.id, claimed.status
"""


def _claim(limit: int) -> list[tuple[OrderInstruction, bool]]:
    """Claim ready instructions; each comes with whether its outcome was unknown (resolve first)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        # Instructions whose worker died mid-call: the outcome is unknown, never resend blindly.
        OrderInstruction.objects.filter(status=InstructionStatus.IN_FLIGHT, claimed_at__lt=now - stale_after()).update(
            status=InstructionStatus.UNKNOWN
        )
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM, {"now": now, "limit": limit})
            previous = dict(cursor.fetchall())
        rows = list(
            OrderInstruction.objects.filter(id__in=list(previous)).select_related("order__account", "order__instrument")
        )
        actor_id = system_actor().pk
        OrderEvent.objects.bulk_create(
            [
                event(
                    r.order,
                    EventKind.ROUTED,
                    actor_id=actor_id,
                    initiator=Initiator.SYSTEM,
                    at=now,
                    data={"destination": r.broker, "action": r.action, "attempt": r.attempts},
                )
                for r in rows
                if r.action == "submit" and previous[r.pk] == InstructionStatus.PENDING
            ]
        )
    return [(r, previous[r.pk] == InstructionStatus.UNKNOWN) for r in sorted(rows, key=lambda r: r.pk)]


_ANSWERS = {
    "submit": frozenset(ExecType),  # any report means the venue has the order
    "cancel": frozenset({ExecType.CANCELED, ExecType.CANCEL_REJECTED, ExecType.FILL, ExecType.EXPIRED}),
    "replace": frozenset({ExecType.REPLACED, ExecType.REPLACE_REJECTED, ExecType.FILL}),
}


def _call(row: OrderInstruction, order: Order, was_unknown: bool) -> list[ExecutionReport]:
    """Send the instruction. If an earlier attempt's outcome is unknown, ask the venue first and
    send again only if it shows no answer to this request (a resent cancel is harmless; a
    resent submit is never made for an order the venue has)."""
    adapter = registry.get_adapter(row.broker)
    ticket = ticket_for(order)
    known: list[ExecutionReport] = []
    if was_unknown:
        known = list(adapter.order_status(ticket))
        if any(r.exec_type in _ANSWERS[row.action] for r in known):
            return known
    if row.action == "submit":
        return known + list(adapter.submit(ticket))
    if row.action == "cancel":
        return known + list(adapter.cancel(ticket))
    terms = row.payload
    request = ReplaceRequest(
        quantity=Decimal(str(terms["quantity"])),
        limit_price=Decimal(str(terms["limit_price"])) if terms.get("limit_price") is not None else None,
        stop_price=Decimal(str(terms["stop_price"])) if terms.get("stop_price") is not None else None,
    )
    return known + list(adapter.replace(ticket, request))


def _finish(row: OrderInstruction, status: str, error: str = "", delay: timedelta | None = None) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"status": status, "last_error": error}
    if status == InstructionStatus.DONE:
        fields["completed_at"] = now
    if delay is not None:
        fields["available_at"] = now + delay
    OrderInstruction.objects.filter(pk=row.pk).update(**fields)


def relay_once(limit: int = 100) -> int:
    """Process up to ``limit`` ready instructions; returns how many were handled."""
    rows = _claim(limit)
    for row, was_unknown in rows:
        backoff = timedelta(seconds=min(2**row.attempts, 300))
        try:
            reports = _call(row, row.order, was_unknown)
        except BrokerTimeout as exc:
            _finish(row, InstructionStatus.UNKNOWN, f"timeout: {exc}", backoff)
            continue
        except BrokerError as exc:
            if exc.transient and row.attempts < MAX_ATTEMPTS:
                _finish(row, InstructionStatus.PENDING, f"transient: {exc}", backoff)
            else:
                logger.error("instruction %s dead-lettered: %s", row.pk, exc)
                _finish(row, InstructionStatus.DEAD, str(exc))
            continue
        intake.receive_many(row.broker, reports)
        _finish(row, InstructionStatus.DONE)
    return len(rows)


def poll_brokers() -> int:
    """Collect reports that arrived later (resting orders filled, expiries) from every broker."""
    count = 0
    for name in registry.enabled_brokers():
        reports = list(registry.get_adapter(name).poll())
        intake.receive_many(name, reports)
        count += len(reports)
    return count
