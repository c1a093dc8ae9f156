"""The relay loop: one long-lived thread per Celery worker that hands the outbox to the brokers
as soon as instructions are committed, instead of one task per order.

Every statement that inserts outbox rows fires ``pg_notify('brokers_outbox')`` (a statement
trigger on ``brokers_orderinstruction``), delivered when its transaction commits. The loop
LISTENs on its own connection, drains the outbox (``relay.relay_until_empty``: batches until one comes
back short), then sleeps until the next notification, or at most ``BROKERS_RELAY_WAKE_SECONDS``
(instructions backing off become ready without a notification). Several loops (several workers,
several machines) share the outbox safely: claims take rows ``FOR UPDATE SKIP LOCKED``. A lost
notification costs a wake-up interval, never an order: the outbox row is the durable part, and
beat's relay task stays the safety net.

The loop starts with the worker (``relay_step.RelayLoopStep``, added in ``config/celery_app.py``) when
``BROKERS_RELAY_LOOP`` is on, and stops with it; a worker killed mid-batch leaves its claims in
flight, to be resolved by the stale reset like any other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from django.db import close_old_connections, connections

from apps.brokers import relay
from apps.brokers.models import OUTBOX_CHANNEL

logger = logging.getLogger(__name__)


def _listen() -> Any:
    """A connection of its own, in autocommit, LISTENing on the outbox channel."""
    wrapper = connections["default"]
    # straight from the driver, never from the pool: it stays open, in session mode, for LISTEN
    conn = psycopg.connect(**wrapper.get_connection_params())
    conn.autocommit = True
    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
    return conn


def run(
    stop: threading.Event,
    *,
    limit: int | None = None,
    wake_seconds: float | None = None,
    broker: str = "",
    ready: Callable[[], bool] | None = None,
) -> None:
    """Drain, wait for a notification (or the wake-up interval), repeat, until ``stop`` is set.
    An error is logged and the loop starts again after a second with fresh connections.
    ``broker``: relay only that broker's instructions (its gateway's loop); ``ready``: drain only
    while it answers true (a gateway whose session is down leaves the outbox alone rather than
    spend the instructions' attempts on a line it knows is down)."""
    limit = limit or int(settings.BROKERS_RELAY_BATCH)
    wake = float(settings.BROKERS_RELAY_WAKE_SECONDS if wake_seconds is None else wake_seconds)
    listener = None
    try:
        while not stop.is_set():
            try:
                if listener is None:
                    listener = _listen()
                if ready is None or ready():
                    relay.relay_until_empty(limit, broker)
                for _ in listener.notifies(timeout=wake, stop_after=1):
                    pass
            except Exception:
                logger.exception("relay loop: error; starting again in a second")
                if listener is not None:
                    listener.close()
                    listener = None
                connections["default"].close()
                stop.wait(1.0)
            finally:
                close_old_connections()
    finally:
        if listener is not None:
            listener.close()
        connections["default"].close()
