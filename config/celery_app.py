"""The Celery application. Settings live in Django settings under ``CELERY_*``."""

import logging.config
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_shutdown

from apps.brokers.relay_step import RelayLoopStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.steps["worker"].add(RelayLoopStep)  # the relay loop in every worker (apps/brokers/relay_loop.py)


# --- Metrics and logs of the workers (docs/observability.md) -------------------------------


@worker_init.connect(dispatch_uid="backoffice-worker-metrics")
def _serve_worker_metrics(**kwargs: Any) -> None:
    """With WORKER_METRICS_PORT set, the worker's main process (where the relay loop runs) serves
    its metrics on that port; with PROMETHEUS_MULTIPROC_DIR also set, those of its pool processes
    too (the directory, one per worker, is emptied first: what is left there is a former run's)."""
    from django.conf import settings

    port = int(getattr(settings, "WORKER_METRICS_PORT", 0) or 0)
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    registry = REGISTRY
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink(missing_ok=True)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


@worker_process_shutdown.connect(dispatch_uid="backoffice-worker-metrics-dead")
def _pool_process_gone(pid: int | None = None, **kwargs: Any) -> None:
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


@setup_logging.connect(dispatch_uid="backoffice-logging")
def _logging_as_configured(loglevel: Any = None, **kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING (structlog: JSON in production, with the
    task's correlation id) instead of Celery's own format; ``--loglevel`` still sets the level."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
