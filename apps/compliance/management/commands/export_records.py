"""``manage.py export_records``: the hash chains, as self-verifying JSON Lines for write-once storage."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.records import EXPORT_CHAINS, records_export
from apps.core.errors import ApplicationError
from apps.core.progress import progress_bars


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"not a date (YYYY-MM-DD): {text!r}") from error


class Command(BaseCommand):
    help = (
        "Export a range of the ledger chain and of the order-event chain into a directory: one JSON Lines file "
        "per chain (each record's canonical content as hashed, sequence, content hash, previous chain hash, "
        "chain hash), manifest.json and manifest.sha256. Check it offline with verify_export."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "output", type=Path, help="Directory to write (created; existing files are never overwritten)."
        )
        parser.add_argument(
            "--chain", action="append", choices=sorted(EXPORT_CHAINS), help="A chain to export (default: all)."
        )
        parser.add_argument("--from-sequence", type=int, default=None, help="First link number (inclusive).")
        parser.add_argument("--to-sequence", type=int, default=None, help="Last link number (inclusive).")
        parser.add_argument("--from-date", type=_date, default=None, help="First day linked (UTC, inclusive).")
        parser.add_argument("--to-date", type=_date, default=None, help="Last day linked (UTC, inclusive).")

        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw progress bars (drawn only on a terminal anyway)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with progress_bars(unit="record", stream=self.stderr, enabled=not options["no_progress"]) as on_progress:
                result = records_export(
                    directory=options["output"],
                    chains=options["chain"] or list(EXPORT_CHAINS),
                    from_sequence=options["from_sequence"],
                    to_sequence=options["to_sequence"],
                    from_date=options["from_date"],
                    to_date=options["to_date"],
                    on_progress=on_progress,
                )
        except ApplicationError as error:
            raise CommandError(str(error)) from error
        for chain in result.chains:
            span = f"#{chain.first_sequence}..#{chain.last_sequence}" if chain.records else "no records"
            self.stdout.write(
                f"{chain.chain}: {chain.records} record(s) {span} -> {chain.file}; "
                f"previous {chain.first_previous_chain_hash}, last {chain.last_chain_hash}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"exported to {result.directory}; manifest SHA-256 {result.manifest_sha256}")
        )
