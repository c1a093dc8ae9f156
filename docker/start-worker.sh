#!/bin/sh
# A Celery worker. Scale these freely (per queue); they never migrate.
#
#   CELERY_QUEUES [celery,brokers,sequencers,scheduled]  the queues it consumes (-Q), comma-separated;
#                          in production one Deployment per queue (k8s/base/workers.yaml)
#   CELERY_CONCURRENCY [4] worker processes (prefork pool)
#   CELERY_WORKER_NAME [worker]  node name prefix; the host name (the pod's name) makes it unique
#   CELERY_LOG_LEVEL [info]
#   WORKER_METRICS_PORT, PROMETHEUS_MULTIPROC_DIR  the worker's own /metrics port (docs/observability.md)
#
# Every worker also runs the outbox relay loop (apps/brokers/relay_loop.py), whatever its queues.
# SIGTERM is Celery's warm shutdown: running tasks finish, nothing new is taken (give the
# container a grace period longer than the longest task; unfinished ones are redelivered).
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"  # the worker empties it when it starts its metrics server
fi

exec celery -A config worker \
    --loglevel "${CELERY_LOG_LEVEL:-info}" \
    --concurrency "${CELERY_CONCURRENCY:-4}" \
    --queues "${CELERY_QUEUES:-celery,brokers,sequencers,scheduled}" \
    --hostname "${CELERY_WORKER_NAME:-worker}@%h"
