"""The paper broker's scheduled job: the random walk of reference prices (a no-op unless
``random_walk`` is on for an enabled paper broker). A redelivered run takes one more step:
harmless for a simulated market, and there is no money in it."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.brokers.registry import UnknownBroker, broker_settings
from plugins.paper.config import PaperSettings
from plugins.paper.walk import random_walk

logger = logging.getLogger(__name__)


@shared_task(name="paper.random_walk", acks_late=True, time_limit=300, soft_time_limit=240)
def random_walk_task(steps: int = 1) -> dict[str, object]:
    try:
        settings = PaperSettings.parse(broker_settings("paper"))
    except UnknownBroker:
        return {"skipped": "the paper broker is not enabled"}
    if not settings.random_walk:
        return {"skipped": "random_walk is off"}
    moves = random_walk(settings=settings, steps=steps)
    logger.info("paper random walk: %d moves under seed %d", len(moves), settings.seed)
    return {"moves": len(moves), "seed": settings.seed}
