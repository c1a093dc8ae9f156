"""The gateway of one FIX session: the process that holds the session and moves orders across it.

Three parts run in it:

- the engine (``engine.Link``), which journals every report as it arrives;
- a relay loop restricted to this broker (``apps.brokers.gateways.run_relay``), woken by the
  outbox's NOTIFY, draining only while the session is logged on: it claims this broker's
  instructions and sends them over the session (the workers' relay loops leave them alone: the
  spec declares ``own_relay``);
- an intake loop: woken after each journaled report, it books what the journal holds and the
  host has not acknowledged (``adapter.poll`` into ``intake.receive_many``); after every logon it
  asks the venue for its working orders (OrderMassStatusRequest) and resyncs ours against them,
  and every ``SNAPSHOT_SECONDS`` it keeps a snapshot of the venue's working orders and
  positions (AF, AN) that the compliance reconciliation reads from its own process.

While the gateway is down, orders wait in the outbox, and reports the venue sent wait in its
own store: nothing is lost. Beat's poll task is a safety net for journaled reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connections

from apps.brokers import gateways, registry
from plugins.fix44.adapter import SNAPSHOT_SECONDS, FixBroker
from plugins.fix44.engine import Link

logger = logging.getLogger(__name__)
INTAKE_DEBOUNCE_SECONDS = 0.02


class Gateway:
    """Start, run and stop one session's gateway (``manage.py fix_gateway`` or a test)."""

    def __init__(self, name: str = "fix44", *, on_fatal: Callable[[BaseException], None] | None = None) -> None:
        adapter = registry.get_adapter(name)
        if not isinstance(adapter, FixBroker):
            raise ValueError(f"the broker {name!r} is not a FIX session")
        self.name = name
        self.adapter = adapter
        self.link = Link(name, adapter.settings, on_fatal=on_fatal)
        adapter.attach(self.link)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._logged_on = threading.Event()
        self.link.on_report(self._wake.set)
        self.link.on_logon(self._on_logon)
        self._threads: list[threading.Thread] = []
        self._snapshot_at = 0.0

    def _on_logon(self) -> None:
        self._logged_on.set()
        self._wake.set()

    def start(self) -> None:
        self.link.start()
        self._threads = [
            threading.Thread(
                target=gateways.run_relay,
                args=(self.stopping, self.name, self.link.logged_on.is_set),
                name=f"{self.name}-relay",
            ),
            threading.Thread(target=self._intake_loop, name=f"{self.name}-intake"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.link.stop()
        self.adapter.link = None
        connections.close_all()

    def _intake_loop(self) -> None:
        try:
            while not self.stopping.is_set():
                self._wake.wait(timeout=1.0)
                # a moment for more reports, and for the relay to book the answers it waited for
                # itself (a report booked twice is a duplicate, but costs both the same locks)
                self.stopping.wait(INTAKE_DEBOUNCE_SECONDS)
                self._wake.clear()
                try:
                    self.book_journal()
                    if self._logged_on.is_set() and self.link.logged_on.is_set():
                        self._logged_on.clear()
                        try:
                            gateways.resync(self.name, adapter=self.adapter)
                        except Exception:
                            self._logged_on.set()  # not done (a timeout...): again on the next turn
                            raise
                        self._snapshot_at = 0.0
                    if self.link.logged_on.is_set() and time.monotonic() - self._snapshot_at >= SNAPSHOT_SECONDS:
                        self._snapshot_at = time.monotonic()
                        self.adapter.snapshot_take()
                except Exception:
                    logger.exception("fix %s: intake loop error; trying again", self.name)
                    self.stopping.wait(1.0)
                finally:
                    close_old_connections()
        finally:
            connections.close_all()

    def book_journal(self) -> int:
        """Book every journaled report the host has not acknowledged; returns how many."""
        return gateways.book_reports(self.name, self.adapter)
