"""The business metrics: a prometheus_client collector evaluated at scrape time, one query per
family (``selectors``). A family whose query fails is left out of that scrape and logged, and
``backoffice_collector_up`` says which (the others are still exported).

Only the web's /metrics registers it (``views.metrics``): the figures come from the database,
whichever process reads them, so one exporter is enough.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.brokers import registry
from apps.monitoring import selectors

logger = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, labels: list[str], values: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def open_orders() -> Iterator[Metric]:
    counts = selectors.open_order_counts()
    yield _gauge(
        "backoffice_orders_open",
        "Open orders, by status.",
        ["status"],
        (([status], n) for status, n in sorted(counts.items())),
    )


def closed_today() -> Iterator[Metric]:
    counts = selectors.closed_today_counts()
    yield _gauge(
        "backoffice_orders_closed_today",
        "Orders that ended today (UTC), by final status.",
        ["status"],
        (([status], n) for status, n in sorted(counts.items())),
    )


def rejections() -> Iterator[Metric]:
    counts = selectors.rejections_today_by_reason()
    yield _gauge(
        "backoffice_order_rejections_today",
        "Orders placed today (UTC) and rejected, by reason code (risk check, or broker_rejected).",
        ["reason"],
        (([reason], n) for reason, n in sorted(counts.items())),
    )


def fills() -> Iterator[Metric]:
    counts = selectors.fills_today_by_broker()
    for name in registry.enabled_brokers():
        counts.setdefault(name, 0)
    yield _gauge(
        "backoffice_fills_booked_today",
        "Fills booked today (UTC), by broker.",
        ["broker"],
        (([broker], n) for broker, n in sorted(counts.items())),
    )


def outbox() -> Iterator[Metric]:
    now = timezone.now()
    backlogs = {b.broker: b for b in selectors.outbox_backlogs()}
    brokers = sorted(set(backlogs) | set(registry.enabled_brokers()))
    yield _gauge(
        "backoffice_outbox_waiting",
        "Outbox instructions not answered yet (pending, in flight, outcome unknown), by broker.",
        ["broker"],
        (([b], backlogs[b].waiting if b in backlogs else 0) for b in brokers),
    )
    yield _gauge(
        "backoffice_outbox_oldest_age_seconds",
        "Age of the oldest outbox instruction not answered yet, by broker (0: none waiting).",
        ["broker"],
        (([b], (now - backlogs[b].oldest_at).total_seconds() if b in backlogs else 0.0) for b in brokers),
    )


def dead_letters() -> Iterator[Metric]:
    counts = selectors.dead_letter_counts()
    for name in registry.enabled_brokers():
        for kind in ("instruction", "report"):
            counts.setdefault((kind, name), 0)
    yield _gauge(
        "backoffice_dead_letters",
        "Dead letters: outbox instructions the relay gave up on (kind=instruction) and execution reports "
        "the intake could not apply (kind=report), by broker.",
        ["kind", "broker"],
        (([kind, broker], n) for (kind, broker), n in sorted(counts.items())),
    )


def exception_queues() -> Iterator[Metric]:
    counts = selectors.exception_queue_counts()
    yield _gauge(
        "backoffice_exception_queue_open",
        "Exception-queue items nobody has reviewed yet, by queue.",
        ["queue"],
        (([queue], n) for queue, n in sorted(counts.items())),
    )


def sequencers() -> Iterator[Metric]:
    lags = selectors.sequencer_lag_list()
    yield _gauge(
        "backoffice_sequencer_backlog",
        "Records committed but not yet numbered and chained, by chain (ledger, order_events).",
        ["chain"],
        (([lag.chain], lag.waiting) for lag in lags),
    )
    yield _gauge(
        "backoffice_sequencer_oldest_age_seconds",
        "How long the oldest record not yet sequenced has waited, by chain (0: none waiting).",
        ["chain"],
        (([lag.chain], lag.oldest_age.total_seconds() if lag.oldest_age else 0.0) for lag in lags),
    )


def alerts() -> Iterator[Metric]:
    counts = selectors.unacknowledged_alert_counts()
    for severity in ("warning", "critical"):
        counts.setdefault(severity, 0)
    yield _gauge(
        "backoffice_compliance_alerts_unacknowledged",
        "Compliance alerts nobody has acknowledged, by severity.",
        ["severity"],
        (([severity], n) for severity, n in sorted(counts.items())),
    )


def beat() -> Iterator[Metric]:
    last = selectors.beat_last_run()
    age = (timezone.now() - last).total_seconds() if last else float("nan")
    yield _gauge(
        "backoffice_beat_heartbeat_age_seconds",
        f"Seconds since beat last ran {settings.HEALTH_BEAT_TASK!r} as django-celery-beat recorded it "
        "(written back every few minutes; NaN: never).",
        [],
        [([], age)],
    )


#: each family (or pair of families) with the function that reads it: one query each
FAMILIES: dict[str, Callable[[], Iterator[Metric]]] = {
    "orders_open": open_orders,
    "orders_closed_today": closed_today,
    "order_rejections_today": rejections,
    "fills_booked_today": fills,
    "outbox": outbox,
    "dead_letters": dead_letters,
    "exception_queues": exception_queues,
    "sequencers": sequencers,
    "compliance_alerts": alerts,
    "beat": beat,
}


class BusinessCollector(Collector):
    """The back office's own figures, read at every scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "backoffice_collector_up",
            "Whether a family of business metrics could be read (1) or not (0).",
            labels=["family"],
        )
        for name, read in FAMILIES.items():
            try:
                metrics = list(read())
            except Exception:
                logger.warning("metrics: could not read %s", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up
