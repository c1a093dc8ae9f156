"""``manage.py paper_random_walk [--steps N] [--seed S]``: move the reference prices now.

An explicit operator action, so it runs whether or not ``random_walk`` is on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.brokers.registry import UnknownBroker, broker_settings
from plugins.paper.config import PaperSettings
from plugins.paper.walk import random_walk


class Command(BaseCommand):
    help = "Move the instruments' reference prices by the paper broker's seeded random walk."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--steps", type=int, default=1)
        parser.add_argument("--seed", type=int, default=None, help="Default: the paper broker's seed setting.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = PaperSettings.parse(broker_settings("paper"))
        except UnknownBroker:
            settings = PaperSettings()
        if options["seed"] is not None:
            settings = dataclasses.replace(settings, seed=options["seed"])
        for move in random_walk(settings=settings, steps=max(options["steps"], 0)):
            self.stdout.write(f"step {move.step} {move.symbol}: {move.old.normalize():f} -> {move.new.normalize():f}")
