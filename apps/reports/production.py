"""What the schedules produce: for a report kind and a closed business date, the runs that are
due (one firm-wide run, or one per account with ledger activity before the close), each once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone

from apps.core.actors import system_actor
from apps.reports.kinds import Scope, kind_get
from apps.reports.models import ReportRun, RunStatus, Trigger
from apps.reports.periods import latest_reportable_date, period_for
from apps.reports.services import report_run_execute
from apps.reports.valuation import accounts_with_activity_before


@dataclass
class Produced:
    kind: str
    business_date: str | None
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    already: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "business_date": self.business_date,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "already": self.already,
        }


def targets(kind: str, business_date: date) -> list[int | None]:
    """The scopes a kind is produced for on a date: the firm, or each account with activity."""
    if kind_get(kind).scope == Scope.FIRM:
        return [None]
    return list(accounts_with_activity_before(period_for(business_date).end))


def reports_produce_due(
    *, kind: str, business_date: date | None = None, trigger: str = Trigger.SCHEDULE, deliver: bool = True
) -> Produced:
    """Produce and deliver the runs of ``kind`` for ``business_date`` (default: the latest closed
    business date) that do not exist yet. Safe to repeat: a scheduled run is recorded once per
    kind, date and scope (a unique key), so a second call (or a redelivered task) does nothing."""
    day = business_date or latest_reportable_date(timezone.now())
    result = Produced(kind=kind, business_date=day.isoformat() if day else None)
    if day is None:
        return result
    actor = system_actor()
    done = set(
        ReportRun.objects.filter(kind=kind, business_date=day, status=RunStatus.SUCCEEDED).values_list(
            "account_id", flat=True
        )
    )
    for account_id in targets(kind, day):
        if account_id in done:
            result.already += 1
            continue
        run = report_run_execute(
            actor=actor, kind=kind, business_date=day, account_id=account_id, trigger=trigger, deliver=deliver
        )
        (result.succeeded if run.status == RunStatus.SUCCEEDED else result.failed).append(run.pk)
    return result
