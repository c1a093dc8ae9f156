"""Scheduled order jobs."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.core.actors import system_actor
from apps.orders.calendar import last_close
from apps.orders.chain import event_sequence_assign
from apps.orders.marking import mark_to_market
from apps.orders.services import day_orders_expire


@shared_task(name="orders.expire_day_orders", acks_late=True, time_limit=600, soft_time_limit=580)
def expire_day_orders_task() -> int:
    """Expire DAY orders placed before the last session close and release their holds."""
    close = last_close(timezone.now())
    if close is None:
        return 0
    return day_orders_expire(actor=system_actor(), session_close=close)


@shared_task(name="orders.sequence_events", acks_late=True, time_limit=300, soft_time_limit=280, ignore_result=True)
def sequence_events_task() -> int:
    """Number and chain the order events committed since the last run (one sequencer at a time)."""
    return event_sequence_assign()


@shared_task(name="orders.mark_to_market", acks_late=True, time_limit=120, soft_time_limit=110, ignore_result=True)
def mark_to_market_task() -> dict[str, int]:
    """Mark every account to market, store the exposure snapshots and act on breached limits.
    Idempotent: a redelivered run stores one more measurement, and a state already as strict
    as a breach asks for is left alone (no second alert)."""
    result = mark_to_market(actor=system_actor())
    return {"snapshots": len(result.snapshots), "breaches": len(result.breaches)}
