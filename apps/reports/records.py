"""Report runs in the records export (``manage.py export_records``): every run of the range's
business dates, with who started it, its files' SHA-256 and its deliveries, one JSON line each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from apps.compliance.records.export import ExportSection
from apps.core.chain import utc
from apps.reports.models import ReportRun


def report_run_records(from_date: date | None, to_date: date | None) -> Iterator[dict[str, Any]]:
    runs = ReportRun.objects.select_related("account", "started_by").prefetch_related("files", "deliveries")
    if from_date is not None:
        runs = runs.filter(business_date__gte=from_date)
    if to_date is not None:
        runs = runs.filter(business_date__lte=to_date)
    for run in runs.order_by("id").iterator(chunk_size=500):
        yield {
            "id": run.pk,
            "kind": run.kind,
            "business_date": run.business_date.isoformat(),
            "period_start": utc(run.period_start),
            "period_end": utc(run.period_end),
            "scope": run.scope,
            "account": run.account.number if run.account else None,
            "status": run.status,
            "trigger": run.trigger,
            "started_by": run.started_by.username,
            "rerun_of": run.rerun_of_id,
            "started_at": utc(run.started_at),
            "finished_at": utc(run.finished_at) if run.finished_at else None,
            "error": run.error,
            "files": [
                {"name": f.name, "content_type": f.content_type, "size": f.size, "sha256": f.sha256}
                for f in sorted(run.files.all(), key=lambda f: f.pk)
            ],
            "deliveries": [
                {"channel": d.channel, "recipient": d.recipient, "status": d.status, "at": utc(d.at)}
                for d in sorted(run.deliveries.all(), key=lambda d: d.pk)
            ],
        }


SECTION = ExportSection(
    key="report-runs",
    file="report_runs.jsonl",
    description="Every report run of the range's business dates: kind, period, scope, who, files, deliveries.",
    records=report_run_records,
)
