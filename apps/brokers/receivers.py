"""Market data moves resting orders: after a reference price commits, poll the brokers."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from apps.instruments.signals import reference_price_changed


@receiver(reference_price_changed, dispatch_uid="brokers-poll-on-price")
def poll_after_price_change(sender: Any, **kwargs: Any) -> None:
    from apps.brokers.tasks import poll_task

    def enqueue() -> None:
        try:
            poll_task.delay()
        except Exception:
            import logging

            logging.getLogger(__name__).warning("could not enqueue a broker poll", exc_info=True)

    transaction.on_commit(enqueue)
