#!/bin/sh
# The web process. The only process that migrates (and stores the beat schedules declared in code).
set -eu

python manage.py migrate --noinput
python manage.py setup_schedules

exec gunicorn config.wsgi \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-3}" \
    --threads "${GUNICORN_THREADS:-2}" \
    --graceful-timeout 30 \
    --access-logfile -
