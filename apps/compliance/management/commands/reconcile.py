"""``manage.py reconcile``: the books against each other, and against the brokers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.reconciliation import reconciliation_run
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Compare each position with the ledger's position balances and each order's filled quantity with its "
        "fills, then each enabled broker's positions and open orders with ours; record a reconciliation break "
        "for each new difference (one already open is not recorded again), raise one compliance alert per "
        "broker with new breaks, and print what was found. Exits 0 either way: breaks are for review in the "
        "admin's exception queue."
    )

    def add_arguments(self, parser: Any) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--broker",
            action="append",
            dest="brokers",
            metavar="NAME",
            help="Reconcile with this broker only (repeat for several); default: every enabled broker.",
        )
        which.add_argument("--no-brokers", action="store_true", help="Compare the books only; do not ask any broker.")

    def handle(self, *args: Any, **options: Any) -> None:
        brokers = () if options["no_brokers"] else options["brokers"]
        try:
            result = reconciliation_run(brokers=brokers)
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        recorded = {(b.kind, b.details.get("key")): b for b in result.recorded}
        for difference in result.differences:
            new = recorded.get((difference.kind, difference.key))
            tag = f"NEW break #{new.pk}" if new else "already open"
            self.stdout.write(self.style.WARNING(f"{tag}: {difference.summary}"))
        for check in result.brokers:
            if check.error:
                self.stdout.write(self.style.ERROR(f"broker {check.broker}: NOT reconciled: {check.error}"))
                continue
            self.stdout.write(
                f"broker {check.broker}: {check.positions_compared} positions and {check.orders_compared} orders "
                f"compared, {len(check.differences)} difference(s); not compared: {check.not_at_venue} order(s) "
                f"still in the outbox, {check.within_grace} within the grace window, {check.routed_elsewhere} "
                "position(s) of accounts routed elsewhere"
            )
        summary = (
            f"{result.positions_checked} positions and {result.orders_checked} orders checked; "
            f"{len(result.differences)} difference(s), {len(result.recorded)} new break(s) recorded, "
            f"{len(result.already_open)} already open"
        )
        if result.brokers:
            summary += f"; brokers: {', '.join(c.broker for c in result.brokers)}"
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"reconciliation OK: {summary}"))
        else:
            self.stdout.write(self.style.WARNING(f"reconciliation found differences: {summary}"))
