"""The relay: claims ready outbox instructions (``SKIP LOCKED``, cancels first, the oldest per
order first), hands them to the brokers outside any lock, and feeds the answers to the intake.

Every request carries its own id (the FIX ClOrdID, ``OrderInstruction.request_id``). A call whose
outcome is unknown (a timeout, an unexpected exception, a worker that died mid-call) leaves the
instruction ``unknown`` and marks it ``maybe_delivered``: the next run asks the broker for the
order's status and sends again only if no answer to THIS request is there (never an older
answer). A refusal (``BrokerError``) backs off if transient; every attempt, whatever ended it,
counts, and after ``MAX_ATTEMPTS`` the instruction is dead-lettered for staff.

Paused brokers and brokers whose circuit is open are not called (``circuit.py``): their
instructions wait. A cancel is never stuck behind a dead submit (dead instructions do not block
their order's later ones), and an order that never reached the venue is canceled without it
(``apps.orders.services.order_cancel`` withdraws its submit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.brokers import circuit, intake, metrics, registry
from apps.brokers.interface import (
    BatchSubmit,
    BrokerAdapter,
    BrokerError,
    BrokerTimeout,
    ExecType,
    ExecutionReport,
    ReplaceRequest,
    SubmitAnswer,
)
from apps.brokers.models import InstructionStatus, OrderInstruction
from apps.brokers.sinks import order_side
from apps.core import faults
from apps.core.actors import system_actor

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BACKOFF_CAP_SECONDS = 300


def stale_after() -> timedelta:
    """How long an instruction may stay in flight before its worker is presumed dead."""
    return timedelta(seconds=int(settings.BROKERS_RELAY_STALE_SECONDS))


_CLAIM = """
WITH claimed AS (
    SELECT c.id, c.status FROM brokers_orderinstruction c
     WHERE c.status IN ('pending', 'unknown') AND c.available_at <= %(now)s AND c.attempts < %(cap)s
       AND NOT (c.broker = ANY(%(excluded)s)) AND (%(only)s = '' OR c.broker = %(only)s)
       AND NOT EXISTS (SELECT 1 FROM brokers_orderinstruction e
                        WHERE e.order_id = c.order_id AND e.id < c.id
                          AND e.status IN ('pending', 'unknown', 'in_flight'))
     ORDER BY (c.action <> 'cancel'), c.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
UPDATE brokers_orderinstruction AS i SET status = 'in_flight', claimed_at = %(now)s, attempts = i.attempts + 1
  FROM claimed WHERE i.id = claimed.id
RETURNING i.id, claimed.status
"""


def _claim_rows(now: datetime, limit: int, excluded: list[str], only: str = "") -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"now": now, "limit": limit, "excluded": excluded, "only": only, "cap": MAX_ATTEMPTS})
        return dict(cursor.fetchall())


_RESET_STALE = """
UPDATE brokers_orderinstruction
   SET status = CASE WHEN attempts >= %(cap)s THEN 'dead' ELSE 'unknown' END,
       maybe_delivered = TRUE,
       last_error = CASE WHEN attempts >= %(cap)s THEN 'worker lost mid-call on the last attempt'
                         ELSE 'worker lost mid-call' END
 WHERE status = 'in_flight' AND claimed_at < %(stale)s
RETURNING id, status
"""


def _reset_stale(now: datetime) -> None:
    """Instructions whose worker died mid-call: the outcome is unknown, never resend blindly (ask
    first). One lost on its last allowed attempt is dead: not tried a ninth time (seed 766); the
    claim's own ``attempts < cap`` guard backs this up."""
    with connection.cursor() as cursor:
        cursor.execute(_RESET_STALE, {"cap": MAX_ATTEMPTS, "stale": now - stale_after()})
        for pk, status in cursor.fetchall():
            if status == InstructionStatus.DEAD:
                logger.error("instruction %s dead-lettered: worker lost on its last attempt", pk)


def _claim(limit: int, broker: str = "") -> list[tuple[OrderInstruction, bool, bool]]:
    """Claim ready instructions of the brokers that may be called; each comes with whether its
    outcome was unknown (resolve first) and whether it is a probe. A broker being probed gets
    one instruction. With ``broker``, only that broker's (its gateway relays them); without, every
    broker's but those whose plugin relays its own (``PluginSpec.own_relay``)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        _reset_stale(now)
        gate = circuit.gate_read(now)
        blocked = gate.blocked | gate.probing
        if broker:
            probing = gate.probing & {broker}
            previous = {} if broker in blocked else _claim_rows(now, limit, [], only=broker)
        else:
            probing = gate.probing - set(registry.own_relay_brokers())
            previous = _claim_rows(now, limit, sorted(blocked | set(registry.own_relay_brokers())))
        for name in sorted(probing):
            previous |= _claim_rows(now, 1, sorted(gate.blocked), only=name)
        rows = list(
            OrderInstruction.objects.filter(id__in=list(previous)).select_related("order__account", "order__instrument")
        )
        first_submits = [r for r in rows if r.action == "submit" and previous[r.pk] == InstructionStatus.PENDING]
        order_side().record_routed(first_submits, actor_id=system_actor().pk, now=now)
        faults.point("relay.claim.before_commit")
    order = sorted(rows, key=lambda r: (r.action != "cancel", r.pk))
    return [(r, previous[r.pk] == InstructionStatus.UNKNOWN, r.broker in gate.probing) for r in order]


_ANSWERS = {
    "cancel": frozenset({ExecType.CANCELED, ExecType.CANCEL_REJECTED}),
    "replace": frozenset({ExecType.REPLACED, ExecType.REPLACE_REJECTED}),
}
_REQUEST_ANSWERS = frozenset({ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED})
_ENDS = frozenset({ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED})


def answered(row: OrderInstruction, known: list[ExecutionReport]) -> bool:
    """Whether the venue's reports for the order already answer THIS request: for a submit, any
    report of the order itself (not a rejection of a cancel or replace of an unknown order); for
    a cancel or replace, its own answer (matched by request id), or the order's end."""
    lifecycle = [r for r in known if r.exec_type not in _REQUEST_ANSWERS]
    if row.action == "submit":
        return bool(lifecycle)
    if any(r.request_id == row.request_id and r.exec_type in _ANSWERS[row.action] for r in known):
        return True
    return any(r.exec_type in _ENDS or (r.exec_type == ExecType.FILL and r.leaves_quantity == 0) for r in lifecycle)


def _call(adapter: BrokerAdapter, row: OrderInstruction, was_unknown: bool) -> list[ExecutionReport]:
    """Send the instruction. If an earlier attempt's outcome is unknown, ask the venue first and
    send again only if it shows no answer to this request (a submit is never sent twice to a
    venue that has the order)."""
    ticket = order_side().ticket_for(row.order, row)
    known: list[ExecutionReport] = []
    if was_unknown:
        known = list(adapter.order_status(ticket))
        if answered(row, known):
            return known
    faults.point("relay.before_call")
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


def _finish(
    row: OrderInstruction,
    status: str,
    error: str = "",
    delay: timedelta | None = None,
    *,
    maybe_delivered: bool = False,
    refund: bool = False,
) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"status": status, "last_error": error[:4000]}
    if refund:
        fields["attempts"] = max(row.attempts - 1, 0)
    if maybe_delivered:
        fields["maybe_delivered"] = True
    if status == InstructionStatus.DONE:
        fields["completed_at"] = now
    if delay is not None:
        fields["available_at"] = now + delay
    OrderInstruction.objects.filter(pk=row.pk).update(**fields)


def _put_back(row: OrderInstruction, was_unknown: bool) -> None:
    """Return an instruction claimed for a broker whose circuit just opened: not an attempt."""
    OrderInstruction.objects.filter(pk=row.pk).update(
        status=InstructionStatus.UNKNOWN if was_unknown else InstructionStatus.PENDING,
        attempts=max(row.attempts - 1, 0),
    )


def _process(row: OrderInstruction, was_unknown: bool, probe: bool = False) -> str | None:
    """Send one instruction and book its answers; returns the error of a transport failure."""
    with structlog.contextvars.bound_contextvars(order_id=row.order_id):  # in its log lines
        return _process_one(row, was_unknown, probe)


def _process_one(row: OrderInstruction, was_unknown: bool, probe: bool) -> str | None:
    started = time.perf_counter()
    try:
        adapter = registry.get_adapter(row.broker)
        reports = _call(adapter, row, was_unknown)
    except Exception as exc:
        metrics.RELAY_CALL_SECONDS.labels(row.broker, row.action).observe(time.perf_counter() - started)
        return _refused(row, exc, was_unknown, probe)
    metrics.RELAY_CALL_SECONDS.labels(row.broker, row.action).observe(time.perf_counter() - started)
    faults.point("relay.after_call")
    intake.receive_many(row.broker, reports)
    faults.point("relay.before_done")
    _finish(row, InstructionStatus.DONE)
    circuit.record_success(row.broker, timezone.now())
    return None


def _refused(row: OrderInstruction, exc: Exception, was_unknown: bool, probe: bool) -> str | None:
    """A call that did not answer with reports; returns the error of a transport failure.
    A probe of a broker whose circuit was open that fails in transport is the line's failure,
    not the instruction's: the attempt is given back (an outage, however long, never exhausts
    the instructions waiting for it; seed 659)."""
    backoff = timedelta(seconds=min(2**row.attempts, BACKOFF_CAP_SECONDS))
    exhausted = row.attempts >= MAX_ATTEMPTS
    if isinstance(exc, BrokerTimeout):
        return _failed(row, f"timeout: {exc}", backoff, exhausted and not probe, unknown=True, refund=probe)
    if isinstance(exc, BrokerError):
        if exc.transient:
            return _failed(
                row, f"transient: {exc}", backoff, exhausted and not probe, unknown=was_unknown, refund=probe
            )
        logger.error("instruction %s dead-lettered: %s", row.pk, exc)
        _finish(row, InstructionStatus.DEAD, str(exc))
        circuit.record_success(row.broker, timezone.now())  # the venue answered: the line is up
        return None
    # anything else: the venue may have acted on it
    logger.error("instruction %s: unexpected error from %s", row.pk, row.broker, exc_info=exc)
    return _failed(row, f"unexpected: {type(exc).__name__}: {exc}", backoff, exhausted, unknown=True)


def _answers(adapter: BrokerAdapter, rows: list[OrderInstruction], opened: set[str]) -> Iterator[SubmitAnswer | None]:
    """Each row's answer, in order: with a batch submit (``BatchSubmit``) from one call (if the
    call itself fails, every outcome is unknown); else one ``submit`` per row, none once the
    broker's circuit opens (None: the row is put back, not attempted)."""
    tickets = [order_side().ticket_for(r.order, r) for r in rows]
    if isinstance(adapter, BatchSubmit):
        faults.point("relay.before_call")
        try:
            answers = list(adapter.submit_many(tickets))
            if len(answers) != len(tickets):
                raise BrokerError(f"submit_many answered {len(answers)} of {len(tickets)} tickets")
        except Exception as exc:
            answers = [exc] * len(tickets)
        yield from answers
        return
    for row, ticket in zip(rows, tickets, strict=True):
        if row.broker in opened:
            yield None
            continue
        faults.point("relay.before_call")
        try:
            yield list(adapter.submit(ticket))
        except Exception as exc:  # the ticket's own outcome, classified by the caller
            yield exc


def _process_submits(broker: str, rows: list[OrderInstruction], opened: set[str]) -> None:
    """Send new orders to one broker (in one call if it has a batch submit), book every answer
    in one intake batch, and mark the booked ones done in one statement. Each order keeps its
    own outcome: a refused or unknown one is handled exactly as alone."""
    try:
        adapter = registry.get_adapter(broker)
    except Exception as exc:
        for row in rows:
            _refused(row, exc, False, False)
        return
    booked: list[OrderInstruction] = []
    reports: list[ExecutionReport] = []
    started = time.perf_counter()
    for row, answer in zip(rows, _answers(adapter, rows, opened), strict=True):
        if answer is None:
            _put_back(row, False)
        elif isinstance(answer, Exception):
            error = _refused(row, answer, False, False)
            if error is not None and circuit.record_failure(broker, timezone.now(), error):
                opened.add(broker)
        else:
            booked.append(row)
            reports += answer
    metrics.RELAY_CALL_SECONDS.labels(broker, "submit").observe(time.perf_counter() - started)
    faults.point("relay.after_call")
    if not booked:
        return
    intake.receive_many(broker, reports)
    faults.point("relay.before_done")
    now = timezone.now()
    OrderInstruction.objects.filter(pk__in=[r.pk for r in booked]).update(
        status=InstructionStatus.DONE, last_error="", completed_at=now
    )
    circuit.record_success(broker, now)


def _failed(
    row: OrderInstruction, error: str, backoff: timedelta, exhausted: bool, *, unknown: bool, refund: bool = False
) -> str:
    """An attempt failed: back off (unknown outcome: resolve by status next time), or dead-letter
    once the attempts are spent; ``refund`` gives the attempt back. Returns the error."""
    if exhausted:
        logger.error("instruction %s dead-lettered after %d attempts: %s", row.pk, row.attempts, error)
        _finish(row, InstructionStatus.DEAD, error, maybe_delivered=unknown)
    else:
        status = InstructionStatus.UNKNOWN if unknown else InstructionStatus.PENDING
        _finish(row, status, error, backoff, maybe_delivered=unknown, refund=refund)
    return error


def relay_once(limit: int = 100, broker: str = "") -> int:
    """Process up to ``limit`` ready instructions (of ``broker`` only, if given: see ``_claim``);
    returns how many were claimed. Cancels, replaces and instructions whose outcome must be
    resolved first go one by one; plain new orders go to their broker in one batch per broker."""
    rows = _claim(limit, broker)
    opened: set[str] = set()
    submits: dict[str, list[OrderInstruction]] = {}
    for row, was_unknown, probe in rows:
        if row.broker in opened:
            _put_back(row, was_unknown)
            continue
        if row.action == "submit" and not was_unknown and not probe:
            submits.setdefault(row.broker, []).append(row)
            continue
        error = _process(row, was_unknown, probe)
        if error is not None and circuit.record_failure(row.broker, timezone.now(), error):
            opened.add(row.broker)
    for name, group in submits.items():
        if name in opened:
            for row in group:
                _put_back(row, False)
            continue
        _process_submits(name, group, opened)
    return len(rows)


def relay_until_empty(limit: int, broker: str = "") -> int:
    """Relay in batches of ``limit`` until one comes back short; returns how many were claimed."""
    total = 0
    while True:
        claimed = relay_once(limit, broker)
        total += claimed
        if claimed < limit:
            return total


def poll_brokers() -> int:
    """Collect the reports each broker has not had acknowledged (resting orders filled,
    expiries, and any report whose intake did not commit), book them, then acknowledge them.
    A broker that fails is logged and skipped; the others are still polled."""
    count = 0
    for name in registry.enabled_brokers():
        try:
            reports = list(registry.get_adapter(name).poll())
        except Exception:
            logger.warning("could not poll %s", name, exc_info=True)
            continue
        faults.point("relay.poll.after_call")
        intake.receive_many(name, reports)
        count += len(reports)
    return count
