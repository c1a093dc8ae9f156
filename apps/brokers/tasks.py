"""Celery tasks of the pipeline. Thin: they call the relay and the intake."""

from __future__ import annotations

from celery import shared_task

from apps.brokers import relay, resync


@shared_task(name="brokers.relay", acks_late=True, time_limit=300, soft_time_limit=280)
def relay_task(limit: int = 200) -> int:
    """Hand ready instructions to their brokers (idempotent: claims are row-locked)."""
    return relay.relay_until_empty(limit)


@shared_task(name="brokers.poll", acks_late=True, time_limit=300, soft_time_limit=280)
def poll_task() -> int:
    """Collect late execution reports from every enabled broker."""
    return relay.poll_brokers()


@shared_task(name="brokers.resync", acks_late=True, time_limit=300, soft_time_limit=280)
def resync_task() -> int:
    """Ask every broker about our open orders and book the reports we never received."""
    return resync.resync_brokers()
