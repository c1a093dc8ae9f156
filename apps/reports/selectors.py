"""Report reads: runs visible to a user, runs of a day, a run's files."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from apps.accounts.permissions import sees_all_accounts, visible_account_ids
from apps.reports.models import ReportFile, ReportRun


def report_run_list_for_day(day: date) -> QuerySet[ReportRun]:
    """Every run for a business date, with its account, files and deliveries (three queries)."""
    return (
        ReportRun.objects.filter(business_date=day)
        .select_related("account", "started_by")
        .prefetch_related("files", "deliveries")
        .order_by("kind", "account__number", "id")
    )


def report_run_list_visible_to(user: object) -> QuerySet[ReportRun]:
    """The runs a user may read: per-account runs of the accounts they can view (the one account
    policy); firm-wide runs only for the staff roles, who see every account."""
    runs = ReportRun.objects.all()
    if not sees_all_accounts(user):
        runs = runs.filter(Q(account__in=visible_account_ids(user)))
    return runs.select_related("account").prefetch_related("files").order_by("-business_date", "-id")


def report_file_get(*, run: ReportRun, name: str | None) -> ReportFile | None:
    """A run's file by name, or its main (first) file."""
    files = run.files.order_by("id")
    return (files.filter(name=name) if name else files).first()
