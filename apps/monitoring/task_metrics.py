"""Celery task counts and durations, observed in the process that runs the task (a worker's
pool process; exported by the worker's metrics port, ``config/celery_app.py``)."""

from __future__ import annotations

import time
from typing import Any

from celery.signals import task_postrun, task_prerun
from prometheus_client import Counter, Histogram

TASKS = Counter("backoffice_celery_tasks", "Celery tasks run, by task name and final state.", ["task", "state"])
TASK_SECONDS = Histogram(
    "backoffice_celery_task_seconds",
    "How long Celery tasks ran, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
_started: dict[str, float] = {}


def _prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    name = str(getattr(task, "name", "") or "unknown")
    TASKS.labels(name, str(state or "UNKNOWN")).inc()
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)


def connect() -> None:
    task_prerun.connect(_prerun, dispatch_uid="monitoring-task-prerun", weak=False)
    task_postrun.connect(_postrun, dispatch_uid="monitoring-task-postrun", weak=False)
