"""The relay's and the intake's latencies, observed where they happen (no query of their own).

In a Celery worker they are exported by the worker's metrics port (``config/celery_app.py``,
``WORKER_METRICS_PORT``); with ``PROMETHEUS_MULTIPROC_DIR`` set, the pool processes' too.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RELAY_CALL_SECONDS = Histogram(
    "backoffice_relay_call_seconds",
    "How long the relay waited for a broker: a batch of new orders (action submit, one call with a "
    "batch submit) or one cancel, replace or unresolved instruction.",
    ["broker", "action"],
    buckets=_BUCKETS,
)
INTAKE_BATCH_SECONDS = Histogram(
    "backoffice_intake_batch_seconds",
    "How long the intake took to book a batch of execution reports (record, apply, acknowledge).",
    ["broker"],
    buckets=_BUCKETS,
)
INTAKE_REPORTS = Counter(
    "backoffice_intake_reports", "Execution reports handed to the intake, by broker and outcome.", ["broker", "outcome"]
)
