#!/bin/sh
# A Celery worker. Scale these freely; they never migrate.
set -eu

exec celery -A config worker \
    --loglevel "${CELERY_LOG_LEVEL:-info}" \
    --concurrency "${CELERY_CONCURRENCY:-4}"
