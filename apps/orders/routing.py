"""The ROUTED step of the order timeline: the relay claimed an order's submit for its broker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apps.brokers.models import OrderInstruction
from apps.orders.events import event
from apps.orders.models import EventKind, Initiator, OrderEvent


def record_routed(instructions: Sequence[OrderInstruction], *, actor_id: int, now: datetime) -> None:
    """One ROUTED event per submit just claimed for the first time (one statement), in the
    relay's claim transaction: which broker, which attempt."""
    OrderEvent.objects.bulk_create(
        [
            event(
                row.order,
                EventKind.ROUTED,
                actor_id=actor_id,
                initiator=Initiator.SYSTEM,
                at=now,
                data={"destination": row.broker, "action": row.action, "attempt": row.attempts},
            )
            for row in instructions
        ]
    )
