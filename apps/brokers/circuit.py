"""Which brokers the relay may call now: operations' pause, and the circuit breaker.

A paused broker gets nothing until operations resume it (``services.broker_resume``). The
circuit breaker is the relay's own: after ``BROKERS_CIRCUIT_FAILURES`` consecutive transport
failures (a transient error, a timeout, an unexpected exception) it opens and the relay calls
that broker no more for ``BROKERS_CIRCUIT_COOLDOWN_SECONDS``; then one instruction goes through
as a probe (half open): a success closes the circuit, a failure opens it for another cool-down.
Meanwhile the broker's instructions wait in the outbox; nothing is lost or sent twice.

A refusal by the venue (a permanent ``BrokerError``) is an answer, not a transport failure: it
does not count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from apps.brokers.models import BrokerCircuit, BrokerControl, CircuitState

logger = logging.getLogger(__name__)


def cooldown() -> timedelta:
    return timedelta(seconds=int(settings.BROKERS_CIRCUIT_COOLDOWN_SECONDS))


@dataclass
class Gate:
    """The brokers a relay run must not call, and those it may probe with one instruction."""

    blocked: set[str] = field(default_factory=set)
    probing: set[str] = field(default_factory=set)


def gate_read(now: datetime) -> Gate:
    """Read the pauses and circuits (in the claim's transaction). A circuit whose cool-down is
    over becomes half open here, with a new deadline, so that one relay run probes it."""
    gate = Gate(blocked=set(BrokerControl.objects.filter(paused=True).values_list("broker", flat=True)))
    due = []
    for circuit in BrokerCircuit.objects.select_for_update(skip_locked=True).exclude(state=CircuitState.CLOSED):
        if circuit.retry_at is not None and circuit.retry_at <= now and circuit.broker not in gate.blocked:
            due.append(circuit.pk)
            gate.probing.add(circuit.broker)
        else:
            gate.blocked.add(circuit.broker)
    if due:
        BrokerCircuit.objects.filter(pk__in=due).update(
            state=CircuitState.HALF_OPEN, retry_at=now + cooldown(), updated_at=now
        )
    return gate


def record_success(broker: str, now: datetime) -> None:
    """A call reached the venue and was answered: close the circuit (a no-op when it is closed)."""
    BrokerCircuit.objects.filter(broker=broker).exclude(state=CircuitState.CLOSED, consecutive_failures=0).update(
        state=CircuitState.CLOSED, consecutive_failures=0, opened_at=None, retry_at=None, last_error="", updated_at=now
    )


def record_failure(broker: str, now: datetime, error: str) -> bool:
    """A transport failure: count it; returns whether the circuit is (now) open."""
    threshold = int(settings.BROKERS_CIRCUIT_FAILURES)
    with transaction.atomic():
        BrokerCircuit.objects.bulk_create([BrokerCircuit(broker=broker, updated_at=now)], ignore_conflicts=True)
        circuit = BrokerCircuit.objects.select_for_update().get(broker=broker)
        circuit.consecutive_failures += 1
        circuit.last_error = error[:2000]
        circuit.updated_at = now
        opens = circuit.state == CircuitState.HALF_OPEN or circuit.consecutive_failures >= threshold
        if opens:
            if circuit.state != CircuitState.OPEN:
                logger.warning(
                    "circuit to %s opened after %d failures: %s", broker, circuit.consecutive_failures, error
                )
            circuit.state, circuit.opened_at, circuit.retry_at = CircuitState.OPEN, now, now + cooldown()
        circuit.save()
    return opens
