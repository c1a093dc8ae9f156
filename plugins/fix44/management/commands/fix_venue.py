"""``manage.py fix_venue --port N --data-dir D``: run the local FIX 4.4 venue until SIGTERM/SIGINT.

Prices are the instruments' reference prices, read as the paper broker reads them
(``plugins.paper.market.market_get``, with the paper broker's settings for slippage, partial
fills and commission). The venue's own state lives in the data directory, not the database.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from apps.brokers.registry import UnknownBroker, broker_settings
from plugins.fix44.venue import Venue
from plugins.paper.config import PaperSettings
from plugins.paper.market import market_get
from plugins.paper.simulator import Market


class Command(BaseCommand):
    help = "Run a local FIX 4.4 venue (QuickFIX acceptor) pricing from the instruments' reference prices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--data-dir", required=True, help="Message store and venue state (kept across runs).")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--sender-comp-id", default="VENUE")
        parser.add_argument("--target-comp-id", default="BACKOFFICE")
        parser.add_argument("--sweep-seconds", type=float, default=0.2)
        parser.add_argument("--log", choices=["none", "screen", "file"], default="none", help="The engine's log.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            paper_settings = PaperSettings.parse(broker_settings("paper"))
        except UnknownBroker:
            paper_settings = PaperSettings()

        def markets(symbol: str) -> Market | None:
            close_old_connections()  # called from the engine's and the sweeper's threads
            return market_get(symbol, now=timezone.now(), settings=paper_settings)

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        venue = Venue(
            port=options["port"],
            data_dir=options["data_dir"],
            markets=markets,
            settings=paper_settings,
            sender_comp_id=options["sender_comp_id"],
            target_comp_id=options["target_comp_id"],
            sweep_seconds=options["sweep_seconds"] or None,
            host=options["host"],
            log=None if options["log"] == "none" else options["log"],
        )
        venue.start()
        self.stdout.write(
            f"fix venue {options['sender_comp_id']} listening on {options['host']}:{options['port']} "
            f"for {options['target_comp_id']} (data in {options['data_dir']})"
        )
        try:
            while not stop.wait(1):
                pass
        finally:
            venue.stop()
            self.stdout.write("fix venue stopped")
