"""Retention: how many records of each class are past their retention period (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from apps.core.chain import utc

if TYPE_CHECKING:
    pass

# --- Retention ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordClass:
    key: str  # "app_label.model", the key of settings.RECORDS_RETENTION
    label: str
    timestamp_field: str  # the time retention runs from


#: What each record class's retention runs from. An order's clock runs from its last change
#: (``updated_at``: the memorandum is complete when the order is), every other record's from
#: when it was made.
RECORD_CLASSES: tuple[RecordClass, ...] = (
    RecordClass("ledger.journaltransaction", "Journal transactions", "posted_at"),
    RecordClass("ledger.journalentry", "Journal entries", "posted_at"),
    RecordClass("orders.fill", "Fills", "executed_at"),
    RecordClass("orders.order", "Orders", "updated_at"),
    RecordClass("orders.orderevent", "Order events", "at"),
    RecordClass("compliance.securityevent", "Security events", "at"),
    RecordClass("compliance.compliancealert", "Compliance alerts", "raised_at"),
    RecordClass("auditlog.logentry", "Audit log entries", "timestamp"),
)


def years_later(moment: datetime, years: int) -> datetime:
    """``moment`` plus whole calendar years (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class RetentionLine:
    record_class: str
    label: str
    years: int
    basis: str
    timestamp_field: str
    cutoff: datetime  # rows timestamped before this are past retention
    past_retention: int
    oldest: datetime | None  # the oldest row past retention
    eligible_since: date | None  # when that oldest row became eligible

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_class": self.record_class,
            "label": self.label,
            "retention_years": self.years,
            "basis": self.basis,
            "timestamp": self.timestamp_field,
            "cutoff": utc(self.cutoff),
            "past_retention": self.past_retention,
            "oldest": utc(self.oldest),
            "eligible_since": self.eligible_since.isoformat() if self.eligible_since else None,
        }


def retention_report(*, as_of: date | None = None) -> list[RetentionLine]:
    """Per record class: the rows past retention on ``as_of`` (default: today, UTC), counted by
    their own timestamp, the oldest of them and the day it became eligible. Never deletes."""
    day = as_of or timezone.now().astimezone(UTC).date()
    start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
    lines = []
    for record_class in RECORD_CLASSES:
        policy = settings.RECORDS_RETENTION[record_class.key]
        years = int(policy["years"])
        cutoff = years_later(start_of_day, -years)
        model = django_apps.get_model(record_class.key)
        found = model._default_manager.filter(**{f"{record_class.timestamp_field}__lt": cutoff}).aggregate(
            n=Count("pk"), oldest=Min(record_class.timestamp_field)
        )
        oldest = found["oldest"]
        lines.append(
            RetentionLine(
                record_class=record_class.key,
                label=record_class.label,
                years=years,
                basis=str(policy.get("basis", "")),
                timestamp_field=record_class.timestamp_field,
                cutoff=cutoff,
                past_retention=found["n"],
                oldest=oldest,
                eligible_since=years_later(oldest, years).astimezone(UTC).date() if oldest else None,
            )
        )
    return lines
