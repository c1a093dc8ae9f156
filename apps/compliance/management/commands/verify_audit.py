"""``manage.py verify_audit``: chain what has committed, then recompute the order events' hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.progress import progress
from apps.orders.chain import ORDER_EVENT_CHAIN, event_chain_verify
from apps.orders.models import OrderEvent


class Command(BaseCommand):
    help = (
        "Chain the order events committed since the last run, then recompute every event's hash and every link; "
        "report the first broken link. Exits 1 on failure. (The ledger's chain: verify_ledger.)"
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Do not draw a progress bar (it is drawn only on a terminal anyway).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        total = OrderEvent.objects.count()
        with progress(
            total=total, desc="order events", unit="event", stream=self.stderr, enabled=not options["no_progress"]
        ) as bar:
            report = event_chain_verify(progress=lambda n: bar.update(min(n, max(total - bar.n, 0))))
        problems = report.problems(ORDER_EVENT_CHAIN.record_noun)
        for problem in problems:
            self.stdout.write(self.style.ERROR(problem))
        summary = f"{report.links_checked} order events checked; chain head #{report.head_sequence} {report.head_hash}"
        if not report.ok:
            raise CommandError(f"audit verification FAILED: {len(problems)} problem(s); {summary}")
        self.stdout.write(self.style.SUCCESS(f"order events OK: {summary}"))
