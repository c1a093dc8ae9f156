"""``manage.py report_backfill``: produce the missing reports of a range of business dates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.core.progress import progress
from apps.orders.calendar import is_trading_day
from apps.reports.kinds import KINDS
from apps.reports.models import Trigger
from apps.reports.production import reports_produce_due


class Command(BaseCommand):
    help = (
        "Produce, for every business date in a range, the runs of a report kind (or of every kind) that did not "
        "succeed yet; delivered to the kind's recipients only with --deliver. Exits 1 if a run failed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--kind", choices=sorted(KINDS), help="One report kind (default: every kind).")
        parser.add_argument("--from", dest="start", required=True, type=date.fromisoformat, help="First date (ISO).")
        parser.add_argument("--to", dest="end", required=True, type=date.fromisoformat, help="Last date (ISO).")
        parser.add_argument("--deliver", action="store_true", help="E-mail each new run to its recipients.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = options["start"], options["end"]
        if end < start:
            raise CommandError("--to is before --from.")
        if (end - start).days > 3660:
            raise CommandError("A backfill covers at most ten years at a time.")
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        dates = [day for day in days if is_trading_day(day)]
        kinds = [options["kind"]] if options["kind"] else sorted(KINDS)
        failed, made = 0, 0
        steps = [(day, kind) for day in dates for kind in kinds]
        for day, kind in progress(
            steps, desc="reports", unit="report", stream=self.stderr, enabled=not options["no_progress"]
        ):
            try:
                result = reports_produce_due(
                    kind=kind, business_date=day, trigger=Trigger.BACKFILL, deliver=options["deliver"]
                )
            except ApplicationError as exc:
                raise CommandError(f"{kind} {day.isoformat()}: {exc.detail}") from exc
            made += len(result.succeeded)
            failed += len(result.failed)
        self.stdout.write(f"{len(dates)} business date(s), {made} run(s) produced, {failed} failed")
        if failed:
            raise CommandError(f"{failed} report run(s) failed: see Report runs in the admin.")
