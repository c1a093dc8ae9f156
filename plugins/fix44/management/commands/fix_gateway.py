"""``manage.py fix_gateway [--session fix44]``: run one FIX session's gateway until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Hold one FIX session: send its broker's orders, journal and book the venue's reports."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--session", default="fix44", help="The broker (FIX session) name in settings.BROKERS.")

    def handle(self, *args: Any, **options: Any) -> None:
        from plugins.fix44.gateway import Gateway

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        gateway = Gateway(options["session"])
        gateway.start()
        settings = gateway.adapter.settings
        self.stdout.write(
            f"fix gateway {options['session']}: {settings.sender_comp_id} -> {settings.target_comp_id} "
            f"at {settings.host}:{settings.port}, store under {settings.data_dir / options['session']}"
        )
        try:
            stop.wait()
        finally:
            gateway.stop()
            self.stdout.write("fix gateway stopped")
