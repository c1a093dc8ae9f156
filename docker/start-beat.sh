#!/bin/sh
# Celery beat: run exactly ONE of these. The schedules come from the database
# (django-celery-beat's DatabaseScheduler, set in the settings; stored by `setup_schedules`).
set -eu

# A pid file left by a killed container would make beat refuse to start after a restart.
rm -f /app/var/celerybeat.pid

exec celery -A config beat \
    --loglevel "${CELERY_LOG_LEVEL:-info}" \
    --pidfile /app/var/celerybeat.pid
