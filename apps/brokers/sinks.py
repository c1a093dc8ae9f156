"""Where the intake sends execution reports once it has recorded them.

The brokers app records and deduplicates reports; applying one to an order (its state, fills,
holds, ledger postings, timeline) is the orders app's business, a layer above. So brokers offers
this hook and the orders app registers its sink when Django starts (``OrdersConfig.ready``);
brokers never imports orders to book a report.
"""

from __future__ import annotations

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from apps.brokers.interface import ExecutionReport


class ReportSink(Protocol):
    def apply_report(self, *, broker: str, report: ExecutionReport, actor_id: int) -> object:
        """Apply one report in the caller's transaction (the caller recorded it)."""
        ...

    def apply_reports(self, *, broker: str, reports: list[ExecutionReport], actor_id: int) -> None:
        """Apply many in the caller's transaction, in their order, as one by one would."""
        ...


_registered: dict[str, ReportSink] = {}


def register_report_sink(sink: ReportSink) -> None:
    _registered["reports"] = sink


def report_sink() -> ReportSink:
    sink = _registered.get("reports")
    if sink is None:
        raise ImproperlyConfigured("No report sink is registered: is apps.orders in INSTALLED_APPS?")
    return sink
