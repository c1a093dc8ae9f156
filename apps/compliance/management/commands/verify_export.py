"""``manage.py verify_export <path>``: re-verify an export from its files alone (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.records import export_verify
from apps.core.progress import progress_bars


class Command(BaseCommand):
    help = (
        "Verify an export_records directory offline, without the database: the manifest's SHA-256, each file's "
        "SHA-256, every content hash and every chain link. Reports the first broken link; exits 1 on failure."
    )
    requires_system_checks: list[str] = []  # runs anywhere the code does: no database, no checks

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path, help="The export directory (or its manifest.json).")
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw progress bars (drawn only on a terminal anyway)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with progress_bars(unit="record", stream=self.stderr, enabled=not options["no_progress"]) as on_progress:
            report = export_verify(options["path"], on_progress=on_progress)
        for chain in report.chains:
            if chain.first_broken is not None:
                self.stdout.write(self.style.ERROR(f"{chain.first_broken}; {chain.broken_links} broken link(s)"))
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(problem))
        summary = "; ".join(
            f"{c.chain} {c.records} record(s)"
            + (f" #{c.first_sequence}..#{c.last_sequence}, last chain hash {c.last_chain_hash}" if c.records else "")
            for c in report.chains
        )
        if not report.ok:
            raise CommandError(f"export verification FAILED: {summary}")
        self.stdout.write(self.style.SUCCESS(f"export OK (manifest SHA-256 {report.manifest_sha256}): {summary}"))
