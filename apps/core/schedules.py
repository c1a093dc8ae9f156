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
