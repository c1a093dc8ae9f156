"""PostgreSQL's own TPC-B (``pgbench``) on the bench's server, in the same run: the baseline
every throughput figure is also shown against (column ``x TPC-B``), so that runs on machines of
different speed, or on a noisy machine, compare.

``pgbench -i -s 10`` initialises a database of its own (``bench_pgbench``, dropped and created
on the server of ``DATABASE_URL``, dropped again afterwards), then ``pgbench -c 4 -j 2 -T 15``
(``--pgbench-seconds``) runs its built-in TPC-B-like script. The rate is pgbench's ``tps``
without the initial connection time; the latency percentiles come from its per-transaction log
(``-l``). The server's settings are the bench's: durable commits if the server has them.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: pgbench's own database; beside another bench database (``BENCH_DATABASE``), a name of its own
DATABASE = f"{os.environ['BENCH_DATABASE']}_pgbench" if os.environ.get("BENCH_DATABASE") else "bench_pgbench"
SCALE = 10
CLIENTS = 4
THREADS = 2
INIT_TIMEOUT = 600.0


@dataclass(frozen=True)
class TpcB:
    """One pgbench run. ``tps`` is None when it could not run (``note`` says why)."""

    tps: float | None
    note: str = ""
    binary: str = ""
    version: str = ""
    scale: int = SCALE
    clients: int = CLIENTS
    threads: int = THREADS
    seconds: float = 0.0
    transactions: int = 0
    failed: int = 0
    latency_average_ms: float | None = None
    #: per-transaction latencies from pgbench's log, seconds
    latencies: list[float] = field(default_factory=list, repr=False)
    init_seconds: float = 0.0
    #: CPU seconds of PostgreSQL's processes (None when /proc is not readable) and of pgbench itself
    postgres_cpu: float | None = None
    client_cpu: float = 0.0

    @property
    def ok(self) -> bool:
        return self.tps is not None


_TPS = re.compile(r"^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)", re.M)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.M)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_VERSION = re.compile(r"^pgbench \(([^)]*\)?)\)", re.M)


def parse_output(text: str) -> dict[str, float | int | str | None]:
    """The figures of pgbench's summary: tps (without connection time), mean latency (ms),
    transactions processed and failed, and the version line."""

    def first(pattern: re.Pattern[str]) -> str | None:
        found = pattern.search(text)
        return found.group(1) if found else None

    tps, latency, processed, failed, version = (
        first(_TPS),
        first(_LATENCY),
        first(_PROCESSED),
        first(_FAILED),
        first(_VERSION),
    )
    return {
        "tps": float(tps) if tps is not None else None,
        "latency_average_ms": float(latency) if latency is not None else None,
        "transactions": int(processed) if processed is not None else 0,
        "failed": int(failed) if failed is not None else 0,
        "version": version or "",
    }


def parse_log(lines: list[str]) -> list[float]:
    """Per-transaction latencies (seconds) from pgbench's ``-l`` log: each line is
    ``client_id transaction_no time script_no time_epoch time_us [...]``, ``time`` in microseconds;
    failed transactions (``failed``/``skipped`` in the time column) are left out."""
    latencies = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2].isdigit():
            latencies.append(int(fields[2]) / 1_000_000)
    return latencies


def find_binary(server_version_num: int | None = None) -> str | None:
    """The server's own major version's pgbench if installed, else the one on PATH."""
    if server_version_num:
        own = Path(f"/usr/lib/postgresql/{server_version_num // 10000}/bin/pgbench")
        if own.is_file() and os.access(own, os.X_OK):
            return str(own)
    return shutil.which("pgbench")


def _server_version_num(url: str) -> int | None:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
    except Exception:
        return None
    return int(str(row[0])) if row else None


def _recreate(url: str, *, create: bool) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _checkpoint(url: str) -> None:
    """Flush the initialisation's dirty pages now rather than during the figures (superuser only)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except Exception:
        pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server_url: str, *, seconds: float = 15.0) -> TpcB:
    """Initialise ``bench_pgbench`` on ``server_url``'s server and run TPC-B on it for ``seconds``.
    Never raises for pgbench's sake: a missing binary or a failed run is a ``TpcB`` without tps."""
    import time

    from bench.database import _with_database
    from bench.pipeline import services_cpu, services_delta

    binary = find_binary(_server_version_num(server_url))
    if binary is None:
        return TpcB(None, "pgbench not found (install postgresql-client or the server's contrib package)")
    target = _with_database(server_url, DATABASE)
    try:
        _recreate(server_url, create=True)
        began = time.perf_counter()
        init = subprocess.run(
            [binary, "-i", "-s", str(SCALE), "-q", target], capture_output=True, text=True, timeout=INIT_TIMEOUT
        )
        init_seconds = time.perf_counter() - began
        if init.returncode != 0:
            return TpcB(None, f"pgbench -i failed: {(init.stderr or init.stdout).strip()[-300:]}", binary)
        _checkpoint(server_url)
        with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as folder:
            command = [binary, "-c", str(CLIENTS), "-j", str(THREADS), "-T", str(max(1, round(seconds)))]
            command += ["-l", f"--log-prefix={Path(folder) / 'tx'}", target]
            services_before, client_before = services_cpu(), _children_cpu()
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, cwd=folder)
            services = services_delta(services_before, services_cpu())
            client_cpu = _children_cpu() - client_before
            lines = [line for log in sorted(Path(folder).glob("tx.*")) for line in log.read_text().splitlines()]
        _checkpoint(server_url)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        return TpcB(None, f"pgbench could not run: {exc}", binary)
    except Exception as exc:  # psycopg: creating or dropping the database
        return TpcB(None, f"pgbench could not run: {type(exc).__name__}: {exc}", binary)
    finally:
        try:
            _recreate(server_url, create=False)
        except Exception:
            pass
    figures = parse_output(done.stdout)
    tps = figures["tps"]
    if done.returncode != 0 or not isinstance(tps, float):
        return TpcB(None, f"pgbench failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}")
    latency = figures["latency_average_ms"]
    return TpcB(
        tps=tps,
        binary=binary,
        version=str(figures["version"]),
        seconds=float(max(1, round(seconds))),
        transactions=int(figures["transactions"] or 0),
        failed=int(figures["failed"] or 0),
        latency_average_ms=latency if isinstance(latency, float) else None,
        latencies=parse_log(lines),
        init_seconds=init_seconds,
        postgres_cpu=services.get("PostgreSQL") if services else None,
        client_cpu=client_cpu,
    )


def describe(run: TpcB) -> str:
    """One line for the run's header."""
    if not run.ok or run.tps is None:
        return f"TPC-B     n/a: {run.note} (every ratio to TPC-B is n/a)"
    from bench.report import percentile

    tail = ""
    if run.latencies:
        tail = f", p50 {percentile(run.latencies, 50) * 1000:.1f} / p99 {percentile(run.latencies, 99) * 1000:.1f} ms"
    cpu = ""
    if run.postgres_cpu is not None and run.transactions:
        cpu = (
            f"; CPU ms/tx PostgreSQL {run.postgres_cpu / run.transactions * 1000:.2f}, "
            f"pgbench {run.client_cpu / run.transactions * 1000:.2f}"
        )
    return (
        f"TPC-B     {run.tps:,.0f} tps (pgbench {run.version or '?'}, scale {run.scale}, -c {run.clients} "
        f"-j {run.threads} -T {run.seconds:.0f}, without connection time; {run.transactions:,} transactions, "
        f"{run.failed} failed; latency mean {run.latency_average_ms or 0:.2f} ms{tail}{cpu}; "
        f"initialised in {run.init_seconds:.0f} s)"
    )
