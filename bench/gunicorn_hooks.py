"""Gunicorn configuration for the bench's web server (``--config python:bench.gunicorn_hooks``).

Only a hook: every task a web process sends goes to the bench's own Celery queue, as in every
other bench process (``bench.pipeline.route_to_bench_queue``), never to a queue another worker on
the machine consumes. Gunicorn reads setting names from this module: define no others here.
"""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    from bench.pipeline import route_to_bench_queue

    route_to_bench_queue()
