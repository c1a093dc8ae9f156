"""The Celery beat schedules, declared in code.

``manage.py setup_schedules`` stores them with django-celery-beat's database scheduler (the one
beat process reads them from there). To schedule a task, append a :class:`Schedule` here; its
``name`` is the stable key, so changing the other fields and re-running the command updates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schedule:
    """One periodic task on a UTC crontab (same field syntax as cron), or every N seconds."""

    name: str
    task: str
    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    kwargs: dict[str, object] = field(default_factory=dict)
    queue: str | None = None
    description: str = ""
    every_seconds: int | None = None


SCHEDULES: list[Schedule] = [
    Schedule(
        name="ledger: nightly verification",
        task="ledger.verify",
        minute="30",
        hour="2",
        description="Recompute every balance and the ledger's hash chain; a compliance alert on any mismatch.",
    ),
    Schedule(
        name="compliance: nightly audit verification",
        task="compliance.verify_audit",
        minute="45",
        hour="2",
        description="Recompute the order events' hash chain; a compliance alert if a link is broken.",
    ),
    Schedule(
        name="compliance: nightly reconciliation",
        task="compliance.reconcile",
        minute="0",
        hour="3",
        description=(
            "Positions against the ledger's position balances, orders' filled quantities against their fills, "
            "every enabled broker's positions and open orders against ours; a reconciliation break (exception "
            "queue) for each new difference, one compliance alert per broker with new breaks."
        ),
    ),
    Schedule(
        name="brokers: relay safety net",
        task="brokers.relay",
        every_seconds=2,
        description="Hand any outbox instruction that was not relayed on commit to its broker.",
    ),
    Schedule(
        name="brokers: poll for late reports",
        task="brokers.poll",
        minute="*",
        description="Collect execution reports of resting orders (fills after a price move, expiries).",
    ),
    Schedule(
        name="brokers: recover dropped reports",
        task="brokers.resync",
        minute="*",
        description="Ask each broker for its open orders and the status of ours it no longer works; book what "
        "never arrived.",
    ),
    Schedule(
        name="orders: expire DAY orders",
        task="orders.expire_day_orders",
        minute="*",
        description="After the session close, expire open DAY orders and release their holds.",
    ),
    Schedule(
        name="ledger: number committed transactions",
        task="ledger.sequence",
        every_seconds=2,
        description="The sequencer: gap-free numbers and chain hashes for transactions committed since the last run.",
    ),
    Schedule(
        name="orders: chain committed order events",
        task="orders.sequence_events",
        every_seconds=2,
        description=(
            "The event sequencer: gap-free numbers and chain hashes for order events committed since the last run."
        ),
    ),
]
#: The daily reports (apps/reports): each kind's task runs every 10 minutes and produces, stores and
#: delivers the reports of the latest business date closed at least 5 minutes ago that were not
#: produced yet (a unique key per kind, date and scope): they appear shortly after each close, and
#: a beat that was down catches up by itself. (kind, minute offset, description)
REPORT_SCHEDULES = [
    ("statement", "0-59/10", "Daily client statement per account (PDF with a 30-day chart, and CSV)."),
    ("trade_blotter", "1-59/10", "Trade blotter: every order, event and fill of the business date (CSV, PDF summary)."),
    ("eod_positions", "2-59/10", "End-of-day positions and mark-to-market at the closing reference prices."),
    ("exceptions", "3-59/10", "Exceptions report: open items of every queue, alerts and breaks, with their age."),
    ("order_routing", "4-59/10", "Order routing report (after SEC Rule 606): per broker and order type."),
    ("cat_events", "5-59/10", "Order event export for regulators (after FINRA CAT), JSON Lines."),
]
SCHEDULES += [
    Schedule(
        name=f"reports: {kind}",
        task="reports.produce",
        minute=minute,
        kwargs={"kind": kind},
        description=description,
    )
    for kind, minute, description in REPORT_SCHEDULES
]
SCHEDULES.append(
    Schedule(
        name="orders: intraday mark-to-market",
        task="orders.mark_to_market",
        every_seconds=60,
        description=(
            "Value every account's cash and positions at the reference prices (exposure snapshots) and hold them "
            "against the daily loss, concentration and gross exposure limits: reducing only or halted on a breach, "
            "with a compliance alert."
        ),
    )
)
