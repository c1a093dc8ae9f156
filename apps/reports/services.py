"""Report write services: run a report (generate, store, record), re-run one, deliver one.

A run is recorded in three short transactions: the run row (``running``), then, once the
generator has answered and the files are stored, the file rows and ``succeeded`` together (or
``failed`` with the error). Generating reads only; no lock is held while a PDF is drawn or a mail
is sent.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core.errors import NotFound, ValidationError
from apps.reports.kinds import ReportContent, Scope, kind_get
from apps.reports.models import ReportFile, ReportRun, RunStatus, Trigger
from apps.reports.periods import period_for, period_is_closed

if TYPE_CHECKING:
    from apps.users.models import User

logger = logging.getLogger(__name__)


def storage_path(run: ReportRun, name: str) -> str:
    scope = run.account.number if run.account_id and run.account else "firm"
    return f"reports/{run.kind}/{run.business_date.isoformat()}/{scope}/run-{run.pk}/{name}"


@dataclass(frozen=True)
class _Target:
    kind: str
    business_date: date
    account: TradingAccount | None


def _target(*, kind: str, business_date: date, account_id: int | None, now: datetime) -> _Target:
    spec = kind_get(kind)
    period = period_for(business_date)
    if not period_is_closed(period, now):
        raise ValidationError(
            f"The business date {business_date.isoformat()} has not closed yet (its session closes at "
            f"{period.end.isoformat()}); a report covers a closed period only.",
            code="period_not_closed",
            field="business_date",
        )
    account = None
    if spec.scope == Scope.ACCOUNT:
        if account_id is None:
            raise ValidationError(f"The {kind} report is per account: give an account.", code="account_required")
        account = TradingAccount.objects.filter(pk=account_id).first()
        if account is None:
            raise NotFound(f"Trading account {account_id} not found.", code="account_not_found")
    elif account_id is not None:
        raise ValidationError(f"The {kind} report is firm-wide: it takes no account.", code="firm_report")
    return _Target(kind=kind, business_date=business_date, account=account)


def _store(run: ReportRun, contents: list[ReportContent]) -> list[ReportFile]:
    now = timezone.now()
    files = []
    for content in contents:
        path = default_storage.save(storage_path(run, content.name), ContentFile(content.data))
        files.append(
            ReportFile(
                run=run,
                name=content.name,
                content_type=content.content_type,
                storage_path=path,
                size=len(content.data),
                sha256=hashlib.sha256(content.data).hexdigest(),
                created_at=now,
            )
        )
    return files


def report_run_execute(
    *,
    actor: User,
    kind: str,
    business_date: date,
    account_id: int | None = None,
    trigger: str = Trigger.MANUAL,
    rerun_of: ReportRun | None = None,
    deliver: bool = False,
) -> ReportRun:
    """Produce one report for a closed business date: record the run, generate its files, store
    them with their SHA-256, mark it succeeded (or failed, with the error) and, if asked, deliver
    it. A scheduled run happens once per kind, date and scope: asked again, the existing run is
    answered unchanged."""
    if trigger not in Trigger.values:
        raise ValidationError(f"Unknown trigger {trigger!r}.", code="invalid_trigger")
    now = timezone.now()
    target = _target(kind=kind, business_date=business_date, account_id=account_id, now=now)
    spec = kind_get(kind)
    period = period_for(business_date)
    try:
        with transaction.atomic(durable=True):
            run = ReportRun.objects.create(
                kind=kind,
                business_date=business_date,
                period_start=period.start,
                period_end=period.end,
                scope=spec.scope,
                account=target.account,
                parameters={},
                status=RunStatus.RUNNING,
                trigger=trigger,
                started_by=actor,
                rerun_of=rerun_of,
                started_at=now,
            )
    except IntegrityError:
        if trigger != Trigger.SCHEDULE:
            raise
        existing = ReportRun.objects.get(
            kind=kind, business_date=business_date, account=target.account, trigger=Trigger.SCHEDULE
        )
        return existing
    try:
        contents = spec.generate(period, target.account.pk if target.account else None)
        files = _store(run, contents)
    except Exception as exc:  # the run records any failure of its generator or the storage
        logger.exception("report %s for %s failed", kind, business_date)
        with transaction.atomic(durable=True):
            run.status, run.finished_at, run.error = RunStatus.FAILED, timezone.now(), f"{type(exc).__name__}: {exc}"
            run.save(update_fields=["status", "finished_at", "error"])
        return run
    with transaction.atomic(durable=True):
        ReportFile.objects.bulk_create(files)
        run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
    if deliver:
        from apps.reports.delivery import report_run_deliver

        report_run_deliver(run=run)
    return run


def report_rerun(*, actor: User, run: ReportRun, deliver: bool = False) -> ReportRun:
    """Run a report again for the same kind, date and scope (a new run that points at the first).
    Its files are byte-identical to the first run's when the records are intact."""
    return report_run_execute(
        actor=actor,
        kind=run.kind,
        business_date=run.business_date,
        account_id=run.account_id,
        trigger=Trigger.RERUN,
        rerun_of=run,
        deliver=deliver,
    )


def report_file_read(*, file: ReportFile) -> bytes:
    """A stored file's bytes, checked against the SHA-256 recorded when it was written."""
    with default_storage.open(file.storage_path, "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != file.sha256:
        from apps.core.errors import BusinessRuleViolation

        raise BusinessRuleViolation(
            f"The stored file {file.name} does not match its recorded SHA-256.", code="report_file_tampered"
        )
    return data
