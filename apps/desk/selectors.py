"""The compliance desk's figures, read from the other apps (the desk owns no data).

One query per section, whatever the size of the books: the exception queues' open items are
counted in one ``UNION ALL``, the sequencers' backlogs likewise, the last run of each control is
one ``DISTINCT ON``; lists are bounded. Each figure carries the admin page it comes from (None
when that page is not installed, e.g. a model admin not registered in this deployment).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Case, CharField, Count, Min, Q, Value, When, Window
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.permissions import has_role
from apps.brokers.selectors import OUTBOX_WAITING, outbox_backlog_list
from apps.compliance import queues
from apps.compliance.models import (
    CheckKind,
    CheckRun,
    ComplianceAlert,
    DeadLetteredReport,
    ExceptionQueue,
    LateFillOrder,
    ReconciliationBreak,
    RiskRejection,
    Severity,
)
from apps.ledger.models import UnsequencedTransaction
from apps.orders.models import Order, UnsequencedOrderEvent
from apps.reports.models import DeliveryStatus, ReportRun, RunStatus
from apps.reports.periods import latest_reportable_date
from apps.reports.selectors import report_run_list_for_day
from apps.risk.models import TradingState, TradingStateValue
from apps.users.roles import COMPLIANCE

#: how many rows a list section shows (the link leads to the rest)
LIST_LIMIT = 10

_QUEUE_MODELS: dict[str, type] = {
    ExceptionQueue.RISK_REJECTION: RiskRejection,
    ExceptionQueue.LATE_FILL: LateFillOrder,
    ExceptionQueue.DEAD_LETTER: DeadLetteredReport,
    ExceptionQueue.RECONCILIATION_BREAK: ReconciliationBreak,
}


def admin_url(name: str, *args: Any, query: dict[str, Any] | None = None) -> str | None:
    """The admin page ``admin:<name>`` (with a query string), or None if it does not exist."""
    try:
        url = reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


def desk_visible_to(user: Any) -> bool:
    """Active staff with the compliance role, and superusers: the role predicate of the API and
    the admin's writes (one query for the roles, cached on the user for the request)."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return has_role(user, COMPLIANCE)


# --- the exception queues -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueLine:
    queue: str
    label: str
    open_items: int
    url: str | None


def desk_queue_list() -> list[QueueLine]:
    """Each exception queue with its items not reviewed yet, linked to the queue's page filtered
    on them. One query."""
    counted = [
        queues.queue_filter_reviewed(queues.queue_list(queue), queue=queue, reviewed=False)
        .order_by()
        .annotate(queue_key=Value(str(queue), output_field=CharField()))
        .values("queue_key")
        .annotate(n=Count("pk"))
        for queue in ExceptionQueue
    ]
    counts = {row["queue_key"]: row["n"] for row in counted[0].union(*counted[1:], all=True)}
    lines = []
    for queue in ExceptionQueue:
        opts = _QUEUE_MODELS[queue]._meta  # type: ignore[attr-defined]
        url = admin_url(f"{opts.app_label}_{opts.model_name}_changelist", query={"reviewed": "no"})
        lines.append(QueueLine(queue=queue.value, label=queue.label, open_items=counts.get(queue.value, 0), url=url))
    return lines


@dataclass(frozen=True)
class OpenOrderItem:
    """An order waiting in one of the order queues (a risk rejection or a fill after a cancel)."""

    order: Order
    queue: str
    label: str
    url: str | None


def desk_open_order_items(limit: int = LIST_LIMIT) -> list[OpenOrderItem]:
    """The newest orders waiting in the risk-rejection and late-fill queues, with their account
    and instrument (for the quantities' and prices' precision). One query."""
    rejections = queues.queue_filter_reviewed(
        queues.risk_rejection_list(), queue=ExceptionQueue.RISK_REJECTION, reviewed=False
    )
    late = queues.queue_filter_reviewed(queues.late_fill_list(), queue=ExceptionQueue.LATE_FILL, reviewed=False)
    orders = (
        Order.objects.filter(Q(pk__in=rejections.order_by().values("pk")) | Q(pk__in=late.order_by().values("pk")))
        .annotate(
            queue=Case(
                When(status="rejected", then=Value(ExceptionQueue.RISK_REJECTION.value)),
                default=Value(ExceptionQueue.LATE_FILL.value),
                output_field=CharField(),
            )
        )
        .select_related("account", "instrument")
        .order_by("-updated_at", "-id")[:limit]
    )
    items = []
    for order in orders:
        queue = ExceptionQueue(order.queue)
        opts = _QUEUE_MODELS[queue]._meta  # type: ignore[attr-defined]
        url = admin_url(f"{opts.app_label}_{opts.model_name}_review", order.pk)
        items.append(OpenOrderItem(order=order, queue=queue.value, label=queue.label, url=url))
    return items


# --- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSection:
    unacknowledged: int
    critical: int
    newest: list[ComplianceAlert]
    url: str | None


def desk_alerts(limit: int = LIST_LIMIT) -> AlertSection:
    """The alerts nobody has acknowledged: how many (how many critical) and the newest. One
    query (the counts ride along as window aggregates)."""
    rows = list(
        ComplianceAlert.objects.filter(acknowledged_at__isnull=True)
        .annotate(
            total=Window(Count("pk")),
            critical=Window(Count("pk", filter=Q(severity=Severity.CRITICAL))),
        )
        .order_by("-raised_at", "-id")[:limit]
    )
    return AlertSection(
        unacknowledged=rows[0].total if rows else 0,
        critical=rows[0].critical if rows else 0,
        newest=list[ComplianceAlert](rows),
        url=admin_url("compliance_compliancealert_changelist", query={"acknowledged_at__isempty": "1"}),
    )


# --- trading states ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeLine:
    state: TradingState
    target: str
    url: str | None


def desk_restricted_scopes() -> list[ScopeLine]:
    """Every scope (the firm, an account, an instrument) halted or reducing only. One query."""
    states = (
        TradingState.objects.filter(state__in=(TradingStateValue.HALTED, TradingStateValue.REDUCING))
        .select_related("account", "instrument", "updated_by")
        .order_by("-updated_at", "-id")
    )
    lines = []
    for state in states:
        if state.account is not None:
            target = f"account {state.account.number}"
        elif state.instrument is not None:
            target = f"instrument {state.instrument.symbol}"
        else:
            target = "the whole firm"
        lines.append(ScopeLine(state=state, target=target, url=admin_url("risk_tradingstate_change", state.pk)))
    return lines


# --- the controls' last runs -----------------------------------------------------------------


@dataclass(frozen=True)
class CheckLine:
    kind: str
    label: str
    last: CheckRun | None
    url: str | None  # the last run's page
    runs_url: str | None  # every run of this control


def desk_check_runs() -> list[CheckLine]:
    """The last run of each control (ledger verification, audit verification, reconciliation),
    passed or failed; None where it never ran. One query."""
    last = {
        run.kind: run
        for run in CheckRun.objects.order_by("kind", "-started_at", "-id").distinct("kind").select_related("run_by")
    }
    return [
        CheckLine(
            kind=kind.value,
            label=kind.label,
            last=last.get(kind.value),
            url=admin_url("compliance_checkrun_change", last[kind.value].pk) if kind.value in last else None,
            runs_url=admin_url("compliance_checkrun_changelist", query={"kind__exact": kind.value}),
        )
        for kind in CheckKind
    ]


# --- the sequencers and the outbox -----------------------------------------------------------


@dataclass(frozen=True)
class LagLine:
    """Records committed but not yet numbered and chained, and how long the oldest has waited."""

    chain: str
    waiting: int
    oldest_at: datetime | None
    age: timedelta | None
    url: str | None


def desk_sequencer_lag(now: datetime | None = None) -> list[LagLine]:
    """The ledger's and the order events' sequencer backlogs. One query."""
    now = now or timezone.now()
    ledger = (
        UnsequencedTransaction.objects.order_by()
        .annotate(chain=Value("ledger", output_field=CharField()))
        .values("chain")
        .annotate(waiting=Count("pk"), oldest_at=Min("transaction__posted_at"))
    )
    events = (
        UnsequencedOrderEvent.objects.order_by()
        .annotate(chain=Value("order events", output_field=CharField()))
        .values("chain")
        .annotate(waiting=Count("pk"), oldest_at=Min("event__at"))
    )
    pages = {
        "ledger": admin_url("ledger_journaltransaction_changelist"),
        "order events": admin_url("orders_orderevent_changelist"),
    }
    return [
        LagLine(
            chain=row["chain"],
            waiting=row["waiting"],
            oldest_at=row["oldest_at"],
            age=(now - row["oldest_at"]) if row["oldest_at"] else None,
            url=pages.get(row["chain"]),
        )
        for row in ledger.union(events, all=True)
    ]


@dataclass(frozen=True)
class OutboxLine:
    broker: str
    waiting: int
    oldest_at: datetime
    age: timedelta
    url: str | None


def desk_outbox(now: datetime | None = None) -> list[OutboxLine]:
    """Per broker, the instructions still in the outbox and the oldest one's age. One query."""
    now = now or timezone.now()
    return [
        OutboxLine(
            broker=item.broker,
            waiting=item.waiting,
            oldest_at=item.oldest_at,
            age=now - item.oldest_at,
            url=admin_url(
                "brokers_orderinstruction_changelist",
                query={"broker": item.broker, "status__in": ",".join(OUTBOX_WAITING)},
            ),
        )
        for item in outbox_backlog_list()
    ]


# --- report runs --------------------------------------------------------------------------------


@dataclass
class ReportKindLine:
    kind: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0  # pending or running
    delivered: int = 0
    delivery_failed: int = 0
    url: str | None = None


@dataclass(frozen=True)
class ReportRunLine:
    run: ReportRun
    url: str | None
    files: list[tuple[Any, str | None]]  # (file, download url)
    delivered: int
    delivery_failed: int


@dataclass
class ReportSection:
    day: date
    kinds: list[ReportKindLine] = field(default_factory=list)
    runs: list[ReportRunLine] = field(default_factory=list)
    url: str | None = None


def report_day(now: datetime | None = None) -> date:
    """The business date whose reports the desk shows: the latest one whose close has passed
    (the nightly runs produce it), else today."""
    now = now or timezone.now()
    return latest_reportable_date(now) or timezone.localdate(now)


def desk_report_runs(day: date) -> ReportSection:
    """The report runs of a business date, summarised per kind (runs, succeeded, failed,
    deliveries sent and failed), each run with its files. Three queries (runs, files,
    deliveries: the reports app's selector prefetches them)."""
    section = ReportSection(day=day, url=admin_url("reports_reportrun_changelist", query={"business_date": day}))
    kinds: dict[str, ReportKindLine] = defaultdict(lambda: ReportKindLine(kind=""))
    for run in report_run_list_for_day(day):
        line = kinds[run.kind]
        line.kind = run.kind
        line.runs += 1
        if run.status == RunStatus.SUCCEEDED:
            line.succeeded += 1
        elif run.status == RunStatus.FAILED:
            line.failed += 1
        else:
            line.pending += 1
        deliveries = list(run.deliveries.all())
        sent = _count(d.status == DeliveryStatus.SENT for d in deliveries)
        failed = _count(d.status == DeliveryStatus.FAILED for d in deliveries)
        line.delivered += sent
        line.delivery_failed += failed
        files = [(f, admin_url("reports_reportrun_download", run.pk, f.pk)) for f in run.files.all()]
        section.runs.append(
            ReportRunLine(
                run=run,
                url=admin_url("reports_reportrun_change", run.pk),
                files=files,
                delivered=sent,
                delivery_failed=failed,
            )
        )
    for kind, line in sorted(kinds.items()):
        line.url = admin_url("reports_reportrun_changelist", query={"kind": kind, "business_date": day})
        section.kinds.append(line)
    return section


def _count(flags: Iterable[bool]) -> int:
    return sum(1 for flag in flags if flag)


# --- the whole desk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    now: datetime
    queues: list[QueueLine]
    open_orders: list[OpenOrderItem]
    alerts: AlertSection
    scopes: list[ScopeLine]
    checks: list[CheckLine]
    lag: list[LagLine]
    outbox: list[OutboxLine]
    reports: ReportSection


def desk_get(now: datetime | None = None) -> Desk:
    """Every section of the desk (a constant number of queries)."""
    now = now or timezone.now()
    return Desk(
        now=now,
        queues=desk_queue_list(),
        open_orders=desk_open_order_items(),
        alerts=desk_alerts(),
        scopes=desk_restricted_scopes(),
        checks=desk_check_runs(),
        lag=desk_sequencer_lag(now),
        outbox=desk_outbox(now),
        reports=desk_report_runs(report_day(now)),
    )
