#!/bin/sh
# A Celery worker. Scale these freely; they never migrate.
set -eu

# CELERY_QUEUES (e.g. "brokers" or "sequencers,scheduled") limits it to some queues; unset: all.
exec celery -A config worker \
    --loglevel "${CELERY_LOG_LEVEL:-info}" \
    --concurrency "${CELERY_CONCURRENCY:-4}" \
    ${CELERY_QUEUES:+--queues "$CELERY_QUEUES"}
