"""The reconciliation run: the one service the nightly task, ``manage.py reconcile`` and the admin
call. It asks the brokers first (outside any transaction), then, in one transaction holding the
reconciliation's advisory lock, compares, records a break per new difference and raises at most
one compliance alert per broker.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.brokers import registry
from apps.compliance.models import (
    AlertKind,
    CheckKind,
    ComplianceAlert,
    ExceptionQueue,
    ExceptionReview,
    ReconciliationBreak,
    Severity,
)
from apps.compliance.reconciliation.books import books_differences_find
from apps.compliance.reconciliation.brokers import BrokerCheck, broker_differences_find, broker_view_take
from apps.compliance.reconciliation.common import (
    BROKER_ORDER_NOT_OPEN_HERE,
    ORDER_NOT_OPEN_AT_BROKER,
    ORDER_VS_BROKER,
    POSITION_VS_BROKER,
    Difference,
)
from apps.compliance.services import check_run_errors, check_run_record, compliance_alert_raise
from apps.core.actors import system_actor
from apps.core.errors import Conflict

if TYPE_CHECKING:
    from apps.users.models import User

logger = logging.getLogger("apps.compliance.reconciliation")

RECONCILIATION_LOCK = 7_340_010  # pg_advisory_xact_lock key of the one reconciliation run

_LABELS = {
    POSITION_VS_BROKER: "position(s) that differ",
    ORDER_NOT_OPEN_AT_BROKER: "open order(s) the broker does not list",
    BROKER_ORDER_NOT_OPEN_HERE: "order(s) the broker lists that are not open here",
    ORDER_VS_BROKER: "order(s) whose quantities differ",
}


class ReconciliationRunning(Conflict):
    """Another reconciliation holds the lock (asked not to wait: the admin's button)."""

    code = "reconciliation_running"


@dataclass
class ReconciliationResult:
    positions_checked: int = 0
    orders_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    recorded: list[ReconciliationBreak] = field(default_factory=list)
    already_open: list[Difference] = field(default_factory=list)
    brokers: list[BrokerCheck] = field(default_factory=list)
    alerts: list[ComplianceAlert] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "positions_checked": self.positions_checked,
            "orders_checked": self.orders_checked,
            "differences": len(self.differences),
            "recorded": [b.pk for b in self.recorded],
            "already_open": len(self.already_open),
            "brokers": {check.broker: check.as_dict() for check in self.brokers},
            "alerts": [a.pk for a in self.alerts],
        }


def _brokers_to_ask(brokers: Sequence[str] | None) -> list[str]:
    """Every enabled broker (None), or the ones named: each must be enabled (``unknown_broker``)."""
    if brokers is None:
        return registry.enabled_brokers()
    for name in brokers:
        registry.plugin_spec(name)
    return sorted(set(brokers))


def _open_keys() -> set[tuple[str, str]]:
    """(kind, key) of the breaks recorded and not yet reviewed."""
    reviewed = ExceptionReview.objects.filter(queue=ExceptionQueue.RECONCILIATION_BREAK, object_id=OuterRef("pk"))
    rows = ReconciliationBreak.objects.filter(~Exists(reviewed)).values_list("kind", "details__key")
    return {(kind, key) for kind, key in rows if key}


def _lock(*, wait: bool) -> None:
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RECONCILIATION_LOCK])
            return
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RECONCILIATION_LOCK])
        (locked,) = cursor.fetchone()
    if not locked:
        raise ReconciliationRunning("A reconciliation is running already; try again when it has finished.")


def reconciliation_run(
    *, actor: User | None = None, brokers: Sequence[str] | None = None, wait: bool = True
) -> ReconciliationResult:
    """Compare the books with each other and with the brokers; record a break for each new
    difference and raise one alert per broker with new breaks (or that could not be asked).

    ``brokers``: None for every enabled broker, ``()`` for the books only, or the names of
    enabled brokers (an unknown one is refused before anything is asked). ``actor`` is who ran
    it (the system user for the nightly task and the command), kept in the alerts' details.
    ``wait=False`` refuses (``reconciliation_running``) instead of queueing behind a run."""
    actor = actor or system_actor()
    names = _brokers_to_ask(brokers)
    started_at = timezone.now()
    with check_run_errors(CheckKind.RECONCILIATION, started_at, refusals=(ReconciliationRunning,)):
        views = [broker_view_take(name) for name in names]  # network calls: before any transaction
        grace = timedelta(seconds=max(0, int(settings.RECONCILIATION_BROKER_GRACE_SECONDS)))
        with transaction.atomic(durable=True):
            _lock(wait=wait)
            found, positions, orders = books_differences_find()
            result = ReconciliationResult(positions_checked=positions, orders_checked=orders)
            for view in views:
                check = broker_differences_find(view, grace=grace)
                result.brokers.append(check)
                found += check.differences
            result.differences = found
            _record(result, run_by=actor.get_username())
            _alert(result, run_by=actor.get_username(), grace=grace)
    check_run_record(
        kind=CheckKind.RECONCILIATION,
        started_at=started_at,
        ok=result.ok,
        summary=_summary(result),
        details=result.as_dict(),
        actor=actor,
    )
    for item in result.recorded:
        logger.warning(
            "reconciliation_break break=%s kind=%s: %s",
            item.pk,
            item.kind,
            item.summary,
            extra={"event": "reconciliation_break", "break_id": item.pk, "break_kind": item.kind},
        )
    return result


def _summary(result: ReconciliationResult) -> str:
    counts = f"{result.positions_checked} positions and {result.orders_checked} orders checked"
    if result.brokers:
        counts += f"; brokers: {', '.join(check.broker for check in result.brokers)}"
    if result.ok:
        return f"Reconciliation OK: {counts}"
    return (
        f"Reconciliation found {len(result.differences)} difference(s): {len(result.recorded)} new break(s), "
        f"{len(result.already_open)} already open; {counts}"
    )


def _record(result: ReconciliationResult, *, run_by: str) -> None:
    """One INSERT for every new break (breaks are append-only and not audited: they are their own
    record); a difference whose break is still open is only counted."""
    open_keys = _open_keys()
    now = timezone.now()
    new: list[ReconciliationBreak] = []
    for difference in result.differences:
        if (difference.kind, difference.key) in open_keys:
            result.already_open.append(difference)
            continue
        open_keys.add((difference.kind, difference.key))  # the same thing twice in one run: once
        details = {**difference.details, "run_by": run_by}
        new.append(
            ReconciliationBreak(
                kind=difference.kind,
                account_id=difference.account_id,
                summary=difference.summary,
                details=details,
                found_at=now,
            )
        )
    result.recorded = ReconciliationBreak.objects.bulk_create(new) if new else []


def _alert(result: ReconciliationResult, *, run_by: str, grace: timedelta) -> None:
    """One alert per broker per run: critical if it recorded a new position break (the books and
    the broker disagree about what clients hold), a warning for order breaks; a warning at every
    run for a broker that could not be asked (the control did not run). Breaks that were already
    open raise nothing again: they are waiting in the queue."""
    for check in result.brokers:
        base = {
            "broker": check.broker,
            "asked_at": check.asked_at,
            "run_by": run_by,
            "grace_seconds": int(grace.total_seconds()),
        }
        if check.error:
            result.alerts.append(
                compliance_alert_raise(
                    kind=AlertKind.BROKER_RECONCILIATION_FAILED,
                    severity=Severity.WARNING,
                    summary=(
                        f"Reconciliation with {check.broker} did not run: the broker could not be asked ({check.error})"
                    ),
                    details={**base, "error": check.error},
                )
            )
            continue
        new = [b for b in result.recorded if b.details.get("broker") == check.broker]
        if not new:
            continue
        kinds = Counter(b.kind for b in new)
        still_open = sum(1 for d in result.already_open if d.broker == check.broker)
        listed = ", ".join(f"{count} {_LABELS.get(kind, kind)}" for kind, count in sorted(kinds.items()))
        result.alerts.append(
            compliance_alert_raise(
                kind=AlertKind.BROKER_RECONCILIATION_BREAKS,
                severity=Severity.CRITICAL if kinds[POSITION_VS_BROKER] else Severity.WARNING,
                summary=(
                    f"Reconciliation with {check.broker}: {len(new)} new break(s): {listed}; "
                    f"{still_open} still open from earlier runs"
                ),
                details={
                    **base,
                    **check.as_dict(),
                    "new_breaks": [b.pk for b in new],
                    "by_kind": dict(kinds),
                    "already_open": still_open,
                },
            )
        )
