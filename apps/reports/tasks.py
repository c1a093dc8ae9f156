"""The reports' beat tasks (schedules in apps/core/schedules.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import shared_task

from apps.reports.production import reports_produce_due


@shared_task(name="reports.produce", acks_late=True, time_limit=3600, soft_time_limit=3500)
def produce_task(kind: str, business_date: str | None = None) -> dict[str, Any]:
    """Produce, store and deliver the ``kind`` reports of the latest closed business date (or the
    one given, ISO) that were not produced yet."""
    day = date.fromisoformat(business_date) if business_date else None
    return reports_produce_due(kind=kind, business_date=day).as_dict()
