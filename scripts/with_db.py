"""Run a command with a PostgreSQL: ``DATABASE_URL`` if set, else the embedded one.

The embedded server is started if needed and stopped afterwards if this script started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Importing the ``config`` package loads the Celery app, which defaults DJANGO_SETTINGS_MODULE
# to the local settings in this process's environment: keep the caller's choice (or none, so
# that pytest takes config.settings.test from pyproject.toml) for the command we run.
_CALLER_SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.embedded import DATA_DIR, embedded_database_url, stop_embedded  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: with_db.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if _CALLER_SETTINGS is None:
        env.pop("DJANGO_SETTINGS_MODULE", None)
    started = False
    if not env.get("DATABASE_URL"):
        started = not (DATA_DIR / "postmaster.pid").exists()
        env["DATABASE_URL"] = embedded_database_url()
    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        if started:
            stop_embedded()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
