"""The outbox: routing instructions written in the order's own transaction.

Nothing here calls a broker; the relay (``relay.py``) does, after commit, outside any lock.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings

from apps.brokers.models import AccountRoute, InstructionStatus, OrderInstruction


def broker_for(account_id: int) -> str:
    """The broker an account routes to: its route, else the default broker."""
    route = AccountRoute.objects.filter(account_id=account_id).values_list("broker", flat=True).first()
    return route or str(settings.DEFAULT_BROKER)


def instruction_add(
    *, order_id: int, broker: str, action: str, now: datetime, payload: dict[str, Any] | None = None
) -> OrderInstruction:
    return OrderInstruction.objects.create(
        order_id=order_id,
        broker=broker,
        action=action,
        payload=payload or {},
        status=InstructionStatus.PENDING,
        available_at=now,
        created_at=now,
    )


_last_kick = [0.0]
KICK_INTERVAL = 0.05  # seconds: one relay run drains the whole backlog, so one kick per burst is enough


def kick() -> None:
    """Ask a worker to run the relay now (after commit), at most once per ``KICK_INTERVAL``
    per process: one run drains the whole backlog. An instruction that no kick covers is picked
    up by beat's relay run every two seconds; a lost kick loses nothing either way: the outbox
    row is the durable part."""
    from apps.brokers.tasks import relay_task

    now = time.monotonic()
    if now - _last_kick[0] < KICK_INTERVAL:
        return
    _last_kick[0] = now
    try:
        relay_task.delay()
    except Exception:
        import logging

        logging.getLogger(__name__).warning("could not enqueue the relay; beat will run it", exc_info=True)
