"""What the host offers a plugin that runs its own process (``PluginSpec.own_relay``: a FIX
gateway holding its session). Plugins may not import the relay or the intake; they call these.

- ``run_relay``: a relay loop for that broker only (woken by the outbox's NOTIFY);
- ``book_reports``: book what the adapter's ``poll`` hands out until it has nothing left;
- ``resync``: compare our open orders with the venue's working ones (after a logon).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from apps.brokers import intake, registry, relay_loop
from apps.brokers import resync as resync_module
from apps.brokers.interface import BrokerAdapter


def run_relay(stop: threading.Event, broker: str, ready: Callable[[], bool] | None = None) -> None:
    """Relay ``broker``'s instructions until ``stop`` is set, while ``ready()`` (``relay_loop.run``)."""
    relay_loop.run(stop, broker=broker, ready=ready)


def book_reports(broker: str, adapter: BrokerAdapter | None = None) -> int:
    """Book every report ``broker``'s adapter hands out (each is acknowledged once recorded);
    returns how many. A report that cannot be applied is dead-lettered, never lost."""
    adapter = adapter or registry.get_adapter(broker)
    count = 0
    while True:
        reports = list(adapter.poll())
        if not reports:
            return count
        intake.receive_many(broker, reports)
        count += len(reports)


def resync(broker: str, adapter: BrokerAdapter | None = None) -> int:
    """Ask ``broker`` about our open orders there and book what we missed (``resync.resync_broker``)."""
    return resync_module.resync_broker(broker, adapter=adapter)
