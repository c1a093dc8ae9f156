"""``manage.py verify_ledger``: recompute every balance, check every invariant and the hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.progress import progress
from apps.ledger.models import JournalTransaction, LedgerAccount
from apps.ledger.verification import verify


class Command(BaseCommand):
    help = (
        "Number what has committed, then recompute balances from entries and the hash chain; check balance per "
        "asset, holds, and report the chain's first broken link. Exits 1 on any mismatch."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Do not draw progress bars (they are drawn only on a terminal anyway).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        show = not options["no_progress"]
        accounts, transactions = LedgerAccount.objects.count(), JournalTransaction.objects.count()
        with (
            progress(total=accounts, desc="ledger accounts", unit="acct", stream=self.stderr, enabled=show) as bar,
            progress(total=transactions, desc="hash chain", unit="link", stream=self.stderr, enabled=show) as links,
        ):
            report = verify(
                progress=lambda n: bar.update(min(n, accounts - bar.n)),
                chain_progress=lambda n: links.update(min(n, max(transactions - links.n, 0))),
            )
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(problem))
        chain = report.chain
        summary = (
            f"{report.accounts_checked} ledger accounts, {report.transactions_checked} transactions checked; "
            f"chain {chain.links_checked} links, head #{chain.head_sequence} {chain.head_hash}"
        )
        if not report.ok:
            raise CommandError(f"ledger verification FAILED: {len(report.problems)} problem(s); {summary}")
        self.stdout.write(self.style.SUCCESS(f"ledger OK: {summary}"))
