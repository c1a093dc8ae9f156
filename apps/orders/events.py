"""Writing the order timeline. Every state change writes its event in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.core import context
from apps.orders.models import Order, OrderEvent


def event(
    order: Order,
    kind: str,
    *,
    actor_id: int,
    initiator: str = "",
    data: dict[str, Any] | None = None,
    broker_at: datetime | None = None,
    at: datetime | None = None,
) -> OrderEvent:
    """An unsaved event for ``order`` (save it, or pass several to ``OrderEvent.objects.bulk_create``)."""
    ctx = context.current()
    return OrderEvent(
        order=order,
        kind=kind,
        status_after=order.status,
        at=at or timezone.now(),
        broker_at=broker_at,
        actor_id=actor_id,
        initiator=initiator,
        source_ip=ctx.source_ip,
        correlation_id=ctx.correlation_id,
        data=data or {},
    )
