"""The backup runbook's restore, done for real (docs/operations.md, "Back up and restore"):
``pg_dump`` a database written by the ledger and order services, restore it with ``psql`` into a
freshly created database, and run ``verify_ledger`` and ``verify_audit`` against the copy in a
subprocess, as an operator would. The copy must keep the append-only triggers, the sequencer
queues and the sequences, and reach the same chain head."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection

from apps.ledger import services as ledger
from apps.orders.placement import order_place

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("pg_dump", "psql", "createdb", "dropdb")
HEAD = re.compile(r"head #(\d+) ([0-9a-f]{64})")


def _candidates(name: str) -> list[str]:
    """Where a PostgreSQL client tool may be: the embedded server's own binaries (pgserver, a dev
    dependency: the server `make test` starts when DATABASE_URL is unset), Debian's versioned
    directories, newest first, then PATH."""
    found = []
    try:
        import pgserver

        found.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    found += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: -int(p.split("/")[4]))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    return [path for path in found if os.access(path, os.X_OK)]


def _server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    return major(version)


def tool(name: str) -> str:
    """A client tool at least as new as the server (pg_dump refuses an older one)."""
    server = _server_major()
    for path in _candidates(name):
        if major(run([path, "--version"], dict(os.environ)).stdout) >= server:
            return path
    raise AssertionError(f"no {name} for PostgreSQL {server} on this machine: the restore cannot be rehearsed")


def connection_args() -> tuple[list[str], dict[str, str]]:
    """The live connection's own host (a socket directory for the embedded server), port and user."""
    connection.ensure_connection()
    info = connection.connection.info  # psycopg's ConnectionInfo: what libpq actually used
    args = ["--host", str(info.host), "--port", str(info.port)]
    if info.user:
        args += ["--username", str(info.user)]
    env = {**os.environ, "PGPASSWORD": str(connection.settings_dict["PASSWORD"] or ""), "PGCONNECT_TIMEOUT": "10"}
    return args, env


def run(argv: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def major(version_text: str) -> int:
    return int(re.search(r"(\d+)(\.\d+)?", version_text).group(1))  # type: ignore[union-attr]


@pytest.fixture
def restored_name() -> Iterator[str]:
    """A database name that exists only for this test; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    yield name
    args, env = connection_args()
    run([tool("dropdb"), *args, "--if-exists", "--force", name], env)


def manage(database_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in its own process against another database (as an operator runs it)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def facts(sql_runner: Any) -> dict[str, Any]:
    """What a restore must bring back: rows of the append-only records, the sequencer queues,
    the triggers (pgtrigger's and the auditlog's) and the sequences."""
    return {
        "rows": sql_runner(
            "SELECT (SELECT count(*) FROM ledger_journaltransaction), (SELECT count(*) FROM ledger_journalentry),"
            " (SELECT count(*) FROM ledger_journalsequence), (SELECT count(*) FROM orders_orderevent),"
            " (SELECT count(*) FROM orders_unsequencedevent), (SELECT count(*) FROM auditlog_logentry)"
        ),
        "triggers": sql_runner(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = 'public'"
        ),
        "account_numbers": sql_runner("SELECT last_value FROM accounts_tradingaccount_number_seq"),
    }


@pytest.mark.django_db(transaction=True)  # committed rows: pg_dump reads from another session
def test_a_dump_restores_into_a_fresh_database_that_verifies(account, actor, instrument, restored_name, tmp_path):
    pg_dump, psql, createdb = tool("pg_dump"), tool("psql"), tool("createdb")
    # A small book: deposits, a withdrawal, orders (holds, order events), an account's audit entry.
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="bk-1")
    ledger.cash_withdraw(actor=actor, trading_account=account, currency="USD", amount="250.5", idempotency_key="bk-2")
    for i in range(3):
        order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity="2",
            limit_price="99.50",
            time_in_force="day",
            client_order_id=f"bk-order-{i}",
        )
    # verify_ledger numbers and chains what has committed: the head the copy must reach.
    out = StringIO()
    call_command("verify_ledger", "--no-progress", stdout=out, stderr=StringIO())
    source_head = HEAD.search(out.getvalue())
    assert source_head, out.getvalue()
    # One order more after that: its events wait in the sequencer's queue at backup time.
    order_place(
        actor=actor, account=account, symbol="ACME", side="buy", type="limit", quantity="1",
        limit_price="99.00", time_in_force="day", client_order_id="bk-order-late",
    )  # fmt: skip

    def source_sql(statement: str) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall()

    before = facts(source_sql)
    assert before["rows"][0][4] > 0, "the late order's events are queued for the chain"

    # 1. The backup: plain SQL, no owners or grants (the restoring role owns the copy).
    args, env = connection_args()
    source = str(connection.settings_dict["NAME"])
    dump = tmp_path / "backoffice.sql"
    done = run([pg_dump, *args, "--format=plain", "--no-owner", "--no-privileges", f"--file={dump}", source], env)
    assert done.returncode == 0, done.stderr
    # 2. A fresh database, and the restore in one transaction, stopping at the first error.
    done = run([createdb, *args, "--template=template0", "--encoding=UTF8", restored_name], env)
    assert done.returncode == 0, done.stderr
    restore = [psql, *args, "--dbname", restored_name, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"]
    done = run([*restore, "--single-transaction", "--file", str(dump)], env)
    assert done.returncode == 0, done.stderr

    def restored_sql(statement: str) -> list[tuple[Any, ...]]:
        done = run([*restore, "--tuples-only", "--no-align", "--field-separator", ",", "--command", statement], env)
        assert done.returncode == 0, done.stderr
        return [tuple(int(v) for v in line.split(",")) for line in done.stdout.split()]

    assert facts(restored_sql) == before
    # The append-only triggers came back (pg_dump creates them after loading the rows).
    refused = run([*restore, "--command", "UPDATE ledger_journalentry SET amount = amount"], env)
    assert refused.returncode != 0 and "Cannot update rows" in refused.stderr

    # 3. The operator's check, against the copy.
    db = connection.settings_dict
    auth = f"{db['USER']}:{db['PASSWORD']}@" if db["PASSWORD"] else f"{db['USER']}@"
    info = connection.connection.info  # where libpq connected: a socket directory for the embedded server
    host = f"@/{restored_name}?host={quote(info.host)}&port={info.port}" if info.host.startswith("/") else None
    url = (
        f"postgresql://{auth.rstrip('@')}{host}"
        if host
        else f"postgresql://{auth}{info.host}:{info.port}/{restored_name}"
    )
    verified = manage(url, "verify_ledger", "--no-progress")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ledger OK" in verified.stdout
    restored_head = HEAD.search(verified.stdout)
    assert restored_head
    # The copy's chain runs through the head recorded before the backup (the late order's hold
    # was numbered on the copy, one link further).
    number, chain_hash = source_head.groups()
    assert int(restored_head.group(1)) == int(number) + 1
    assert restored_sql(f"SELECT count(*) FROM ledger_journalsequence WHERE sequence = {int(number)}"
                        f" AND chain_hash = '{chain_hash}'") == [(1,)]  # fmt: skip
    audited = manage(url, "verify_audit", "--no-progress")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    events = before["rows"][0][3]
    assert f"order events OK: {events} order events checked" in audited.stdout  # the queued ones chained too
