#!/bin/sh
# The web process: gunicorn serving config.wsgi. It never migrates (docker/start-migrate.sh does,
# once per release, before the web and worker processes roll).
#
# Settings from the environment (defaults in brackets):
#   PORT [8000]                 the port to listen on (all interfaces: the container's network)
#   WEB_CONCURRENCY [3]         gunicorn worker processes (about one per CPU of the container)
#   GUNICORN_THREADS [8]        threads per process; concurrent order requests of one process
#                               share a placement transaction (group commit), so more threads
#                               under load mean fewer, larger transactions
#   GUNICORN_TIMEOUT [60]       seconds a request may take before its worker is restarted
#   GUNICORN_GRACEFUL_TIMEOUT [30]  seconds to finish requests after SIGTERM
#   GUNICORN_KEEPALIVE [5]      seconds to keep an idle connection from the proxy open
#   GUNICORN_MAX_REQUESTS [0]   restart a worker after this many requests (0: never), with jitter
#   GUNICORN_CMD_ARGS           any other gunicorn option (read by gunicorn itself)
#   PROMETHEUS_MULTIPROC_DIR    if set, /metrics adds up every gunicorn process's metrics from
#                               files there (docs/observability.md); emptied at each start
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
fi

max_requests="${GUNICORN_MAX_REQUESTS:-0}"

exec gunicorn config.wsgi \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-3}" \
    --threads "${GUNICORN_THREADS:-8}" \
    --timeout "${GUNICORN_TIMEOUT:-60}" \
    --graceful-timeout "${GUNICORN_GRACEFUL_TIMEOUT:-30}" \
    --keep-alive "${GUNICORN_KEEPALIVE:-5}" \
    --max-requests "$max_requests" \
    --max-requests-jitter "$((max_requests / 10))" \
    --worker-tmp-dir "${GUNICORN_WORKER_TMP_DIR:-/tmp}" \
    --access-logfile - \
    --error-logfile -
