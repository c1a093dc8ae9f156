#!/bin/sh
# Celery beat: run exactly ONE of these, or every schedule fires twice. The schedules live in the
# database (django-celery-beat's DatabaseScheduler, CELERY_BEAT_SCHEDULER in the settings), stored
# by `manage.py setup_schedules` (docker/start-migrate.sh), so beat keeps no state of its own.
set -eu

pidfile="${CELERY_BEAT_PIDFILE:-/tmp/celerybeat.pid}"
# A pid file left by a killed container would make beat refuse to start after a restart.
rm -f "$pidfile"

exec celery -A config beat \
    --loglevel "${CELERY_LOG_LEVEL:-info}" \
    --scheduler django_celery_beat.schedulers:DatabaseScheduler \
    --pidfile "$pidfile"
