"""``manage.py simulate``: run the venue simulation in a throwaway database.

    manage.py simulate --seeds 1000 --steps 200          # a long campaign (seeds 1..1000)
    manage.py simulate --seed 47 --steps 250 --shrink     # one seed; shrink it if it fails
    manage.py simulate --seed 47 --replay "place#1 relay#2!1 ..."   # replay a shrunk step list

The database is a fresh one next to the configured one (``<name>_simulation``), migrated, and
dropped at the end (``--keep-db`` keeps it for inspection). Exits 1 if any seed found a violation.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.simulation import runner
from apps.simulation.steps import Step


class Command(BaseCommand):
    help = "Run the venue simulation (seeded, deterministic) with its auditor, in a throwaway database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seeds", type=int, default=10, help="how many seeds (from --start)")
        parser.add_argument("--start", type=int, default=1, help="the first seed of a campaign")
        parser.add_argument("--seed", type=int, help="run this one seed")
        parser.add_argument("--steps", type=int, default=200, help="steps per seed")
        parser.add_argument("--replay", help="a step list to run instead of the seed's (as a failure prints it)")
        parser.add_argument("--shrink", action="store_true", help="shrink a failing run to its shortest step list")
        parser.add_argument("--shrink-budget", type=int, default=300, help="reruns the shrinker may spend")
        parser.add_argument("--keep-db", action="store_true", help="keep the simulation database")
        parser.add_argument("--trace", action="store_true", help="print every step and what it did")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["replay"] and options["seed"] is None:
            raise CommandError("--replay needs the --seed it came from.")
        try:
            replay = [Step.parse(text) for text in options["replay"].split()] if options["replay"] else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["steps"] < 1 or options["seeds"] < 1:
            raise CommandError("--steps and --seeds must be positive.")
        seeds = (
            [options["seed"]]
            if options["seed"] is not None
            else list(range(options["start"], options["start"] + options["seeds"]))
        )
        settings_dict = connection.settings_dict
        settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_simulation"
        old_name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, keepdb=options["keep_db"], serialize=False
        )
        try:
            failed = self._campaign(seeds, replay, options)
        finally:
            if not options["keep_db"]:
                connection.creation.destroy_test_db(old_name, verbosity=0)
        if failed:
            raise SystemExit(1)

    def _campaign(self, seeds: list[int], replay: list[Step] | None, options: dict[str, Any]) -> int:
        started, steps_run, failed = time.monotonic(), 0, 0
        kinds: dict[str, int] = {}

        def on_step(index: int, step: Step, outcome: str) -> None:
            if options["trace"]:
                self.stdout.write(f"  {index:4d} {step}: {outcome}")

        for seed in seeds:
            result = runner.run(seed, options["steps"], steps=replay, on_step=on_step)
            steps_run += result.steps_run
            if result.ok:
                if len(seeds) <= 20 or seed % 50 == 0:
                    self.stdout.write(result.summary())
                continue
            failed += 1
            for kind in result.kinds:
                kinds[kind] = kinds.get(kind, 0) + 1
            self.stdout.write(self.style.ERROR(result.summary()))
            self.stdout.write(f"  reproduce: manage.py simulate --seed {seed} --steps {options['steps']}")
            if options["shrink"]:
                shortest = runner.shrink(result, budget=options["shrink_budget"], log=self.stdout.write)
                listing = " ".join(str(step) for step in shortest)
                self.stdout.write(
                    f'  shortest ({len(shortest)} steps): manage.py simulate --seed {seed} --replay "{listing}"'
                )
        minutes = (time.monotonic() - started) / 60
        self.stdout.write(
            f"{len(seeds)} seeds, {steps_run} steps, {minutes:.1f} minutes: "
            + (f"{failed} failing seed(s), violations {kinds}" if failed else "no violation")
        )
        return failed
