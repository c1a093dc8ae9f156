#!/bin/sh
# The one-off release step, run once per deploy BEFORE the web, worker and beat processes roll
# (the compose `migrate` service, the Kubernetes Job `backoffice-migrate`; docs/operations.md):
# apply the database migrations, then store the beat schedules declared in code. Both are
# idempotent: running it again changes nothing.
set -eu

python manage.py migrate --noinput
python manage.py setup_schedules
