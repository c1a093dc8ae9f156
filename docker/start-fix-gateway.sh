#!/bin/sh
# The FIX 4.4 gateway (optional; docs/plugins.md): exactly ONE per FIX session. It needs
# FIX44_ENABLED=true and the FIX44_* settings, and a persistent FIX44_DATA_DIR (the engine's
# message store: sequence numbers survive restarts).
set -eu

exec python manage.py fix_gateway --session "${FIX_SESSION:-fix44}"
