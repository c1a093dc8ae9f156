"""The worker step that runs the relay loop (``relay_loop.run``) in a thread of every Celery
worker while it runs, when ``BROKERS_RELAY_LOOP`` is on. Kept apart from the loop so that the
Celery app can add it before Django is set up: the loop is imported when the worker starts."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)


class RelayLoopStep(bootsteps.StartStopStep):
    """Starts the loop after the worker's pool, stops it (waiting for its batch) before the pool."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        if not settings.BROKERS_RELAY_LOOP:
            return
        from apps.brokers.relay_loop import run  # Django is set up once the worker starts

        self._thread = threading.Thread(target=run, args=(self._stop,), name="relay-loop", daemon=True)
        self._thread.start()
        logger.info("relay loop started (batch %s)", settings.BROKERS_RELAY_BATCH)

    def stop(self, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
