"""``manage.py retention_report``: what is past its retention period. Reports only; deletes nothing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.records import retention_report


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--as-of: not a date (YYYY-MM-DD): {text!r}") from error


class Command(BaseCommand):
    help = (
        "For each record class of settings.RECORDS_RETENTION: how many rows are past retention (by their own "
        "timestamp), the oldest, and the date it became eligible. Never deletes anything; exits 0."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--as-of", type=_date, default=None, help="The day to report for (default: today, UTC).")
        parser.add_argument("--json", action="store_true", help="Print one JSON document instead of a table.")

    def handle(self, *args: Any, **options: Any) -> None:
        lines = retention_report(as_of=options["as_of"])
        if options["json"]:
            self.stdout.write(json.dumps([line.as_dict() for line in lines], indent=2))
            return
        self.stdout.write(
            f"{'record class':<28} {'years':>5} {'cutoff (UTC)':<12} {'past retention':>14}  "
            f"{'oldest (UTC)':<27} eligible since"
        )
        for line in lines:
            self.stdout.write(
                f"{line.label:<28} {line.years:>5} {line.cutoff.date().isoformat():<12} {line.past_retention:>14}  "
                f"{(line.oldest.isoformat() if line.oldest else '-'):<27} "
                f"{line.eligible_since.isoformat() if line.eligible_since else '-'}"
            )
        self.stdout.write("Nothing was deleted: this report only lists what has become eligible.")
