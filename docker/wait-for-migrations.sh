#!/bin/sh
# Init container of every long-running process (k8s/base): wait until the database has every
# migration this image knows, i.e. until the release's migration Job has run. A new version
# therefore never serves against an old schema, even if its pods start before the Job ends;
# its rollout just waits (and the old pods keep serving).
#   MIGRATIONS_WAIT_SECONDS [5]  pause between two checks
set -eu

until python manage.py migrate --check >/dev/null 2>&1; do
    echo "waiting for the migration job (unapplied migrations, or the database does not answer)"
    sleep "${MIGRATIONS_WAIT_SECONDS:-5}"
done
echo "database schema is up to date"
