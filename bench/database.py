"""The benchmark's own database, and Django set up to use it.

The benchmark never touches development data: it drops and recreates ``bench_backoffice``
on the server that ``DATABASE_URL`` points at, rewrites ``DATABASE_URL`` in this process's
environment to that database *before* Django reads its settings, and runs the migrations
into it. Worker processes (spawned) inherit the rewritten environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "bench_backoffice")  # another name: two benches at once
ORIGINAL_URL_VARIABLE = "BENCH_ORIGINAL_DATABASE_URL"


@dataclass(frozen=True)
class Target:
    """Where the benchmark runs: the server URL it was given and the bench database URL."""

    original_url: str
    bench_url: str
    embedded: bool


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def prepare_environment() -> None:
    """Defaults for the parent and (inherited) for every spawned worker."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # Production runs with DEBUG off; with it on, Django also formats and keeps every query.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    # The API figure measures the API, not its throttles (each process has its own memory cache).
    for scope in ("USER", "ORDERS", "ANON", "AUTH"):
        os.environ.setdefault(f"API_THROTTLE_{scope}", "100000000/min")


def recreate_database() -> Target:
    """Drop and recreate the bench database on DATABASE_URL's server; point DATABASE_URL at it."""
    import psycopg

    prepare_environment()
    original = os.environ.get(ORIGINAL_URL_VARIABLE) or os.environ.get("DATABASE_URL")
    embedded = False
    if not original:
        # Run without scripts/with_db.py: start (or attach to) the embedded server.
        from config.embedded import embedded_database_url

        original = embedded_database_url()
        embedded = True
    if _database_name(original) == BENCH_DATABASE:
        raise SystemExit(f"DATABASE_URL already names {BENCH_DATABASE}; point it at another database on the server.")
    bench_url = _with_database(original, BENCH_DATABASE)
    with psycopg.connect(original, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        if not embedded:
            embedded = _is_embedded(conn)
    os.environ[ORIGINAL_URL_VARIABLE] = original
    os.environ["DATABASE_URL"] = bench_url
    return Target(original_url=original, bench_url=bench_url, embedded=embedded)


def _is_embedded(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """True when the server's data directory is the project's embedded one (config/embedded.py)."""
    from config.embedded import DATA_DIR

    try:
        row = conn.execute("SHOW data_directory").fetchone()
    except Exception:  # not superuser: cannot tell, call it external
        return False
    return row is not None and os.path.realpath(str(row[0])) == os.path.realpath(DATA_DIR)


def django_setup() -> None:
    """Set Django up against the (already rewritten) DATABASE_URL; used by parent and workers."""
    prepare_environment()
    if _database_name(os.environ.get("DATABASE_URL", "")) != BENCH_DATABASE:
        raise RuntimeError("django_setup() before recreate_database(): refusing to run against another database.")
    import django

    django.setup()
    from bench.pipeline import route_to_bench_queue

    route_to_bench_queue()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
