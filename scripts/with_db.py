"""Run a command with a PostgreSQL: ``DATABASE_URL`` if set, else the embedded one.

The embedded server is started if needed and stopped afterwards if this script started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.embedded import DATA_DIR, embedded_database_url, stop_embedded


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: with_db.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
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
