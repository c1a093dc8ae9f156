"""``manage.py reconcile``: positions against the ledger, orders against their fills."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.compliance.reconciliation import reconciliation_run


class Command(BaseCommand):
    help = (
        "Compare each position with the ledger's position balances and each order's filled quantity with its "
        "fills; record a reconciliation break for each new difference (one already open is not recorded again) "
        "and print what was found. Exits 0 either way: breaks are for review in the admin's exception queue."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = reconciliation_run()
        recorded = {(b.kind, b.details.get("key")): b for b in result.recorded}
        for difference in result.differences:
            new = recorded.get((difference.kind, difference.key))
            tag = f"NEW break #{new.pk}" if new else "already open"
            self.stdout.write(self.style.WARNING(f"{tag}: {difference.summary}"))
        summary = (
            f"{result.positions_checked} positions and {result.orders_checked} orders checked; "
            f"{len(result.differences)} difference(s), {len(result.recorded)} new break(s) recorded, "
            f"{len(result.already_open)} already open"
        )
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"reconciliation OK: {summary}"))
        else:
            self.stdout.write(self.style.WARNING(f"reconciliation found differences: {summary}"))
