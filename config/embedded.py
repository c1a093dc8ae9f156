"""The embedded PostgreSQL used when no ``DATABASE_URL`` is given.

A fresh machine needs no installed database: the ``pgserver`` wheel ships PostgreSQL 16
binaries, and we keep its data directory under ``var/pg``. The server listens on a Unix
socket only and is shared by every process of the project (web, worker, beat, tests).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_PG_DIR", BASE_DIR / "var" / "pg"))


def embedded_database_url() -> str:
    """Start (or attach to) the embedded server and return its URL."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - production never lands here
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL (pgserver, a dev dependency) "
            "is not installed. Set DATABASE_URL or install requirements/dev.txt."
        ) from exc
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(DATA_DIR, cleanup_mode=None)
    return str(server.get_uri())


def stop_embedded() -> None:
    """Stop the embedded server if it runs (used by the launchers on exit)."""
    import subprocess

    if not (DATA_DIR / "postmaster.pid").exists():
        return
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    # pgserver runs the server as its own system user when we are root.
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=DATA_DIR, user=user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pass  # already stopped


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_database_url()
