"""Figures: percentiles, the machine the benchmark ran on, and the printed tables."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


#: PostgreSQL's own TPC-B rate on the same server in the same run (``bench.pgbench``), set once it
#: is measured; None when it is not (every ratio to it is then n/a)
TPCB_TPS: float | None = None
#: the heading of the ratio columns: "<multiplication sign> TPC-B"
TPCB_COLUMN = "\u00d7 TPC-B"


def times_tpcb(rate: float | None) -> str:
    """A rate as a multiple of the run's TPC-B tps, for the ratio columns."""
    return f"{rate / TPCB_TPS:.2f}" if TPCB_TPS and rate is not None else "n/a"


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


@dataclass
class WriteFigure:
    label: str
    workers: int
    postings: int
    wall_seconds: float
    latencies: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    deadlocks: int = 0
    rollbacks: int = 0
    client_cpu: float = 0.0
    server_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.postings / self.wall_seconds if self.wall_seconds else 0.0


@dataclass
class ReadFigure:
    label: str
    samples: list[float]
    note: str = ""


@dataclass
class Machine:
    cpus: int
    cpu_model: str
    memory_gib: float
    python: str
    postgres: str
    server: str
    settings: str

    def lines(self) -> list[str]:
        return [
            f"machine   {self.cpus} CPUs ({self.cpu_model}), {self.memory_gib:.0f} GiB RAM, Python {self.python}",
            f"database  {self.postgres}; {self.server}",
            f"settings  {self.settings}",
            code_version(),
        ]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def machine(*, embedded: bool) -> Machine:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        (version,) = cursor.fetchone()
        cursor.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections', 'wal_sync_method') ORDER BY name"
        )
        settings = dict(cursor.fetchall())
    host = connection.settings_dict.get("HOST") or "local socket"
    where = "embedded (pgserver, config/embedded.py)" if embedded else "external server"
    shared = int(settings.get("shared_buffers", "0")) * 8 // 1024
    return Machine(
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        memory_gib=_memory_gib(),
        python=platform.python_version(),
        postgres=f"PostgreSQL {version}",
        server=f"{where} at {host}",
        settings=(
            f"synchronous_commit={settings.get('synchronous_commit')}, fsync={settings.get('fsync')}, "
            f"wal_sync_method={settings.get('wal_sync_method')}, shared_buffers={shared} MB"
        ),
    )


def code_version() -> str:
    """The commit the application code is at, and any uncommitted changes to it (read-only git)."""
    import subprocess
    from pathlib import Path

    base = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never touch the index

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(base), *args], capture_output=True, text=True, env=env, check=True)
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.strip()

    commit = git("log", "-1", "--format=%h %cI %s")
    if not commit:
        return "code      (not a git checkout)"
    changed = git("diff", "--name-only", "HEAD", "--", "apps", "plugins", "config").split()
    dirty = f"; uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"code      {commit[:100]}{dirty}"


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load n/a"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_writes(
    figures: Sequence[WriteFigure],
    title: str = "Writes (every guarantee on)",
    unit: str = "tx",
    count: str = "postings",
) -> None:
    width = max([52, *(len(fig.label) for fig in figures)])
    print()
    print(
        f"{title:<{width}} {count:>8} {'rate':>10} {TPCB_COLUMN:>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{f'CPU ms/{unit}: client':>17} {'server':>6}  notes"
    )
    for fig in figures:
        server = f"{fig.server_cpu / fig.postings * 1000:.2f}" if fig.server_cpu is not None else "n/a"
        notes = [f"retries {fig.retries}", f"deadlocks {fig.deadlocks}"]
        if fig.errors:
            notes.append("errors " + ", ".join(f"{name} {count}" for name, count in sorted(fig.errors.items())))
        else:
            notes.append("errors 0")
        if fig.outcomes:
            notes.append(", ".join(f"{name} {value}" for name, value in sorted(fig.outcomes.items())))
        rate = f"{fig.rate:>6.0f} {unit}/s"
        print(
            f"{fig.label:<{width}} {fig.postings:>8} {rate:>10} {times_tpcb(fig.rate):>7} "
            f"{ms(percentile(fig.latencies, 50)):>7} "
            f"{ms(percentile(fig.latencies, 99)):>7} {fig.client_cpu / fig.postings * 1000:>17.2f} {server:>6}  "
            f"{', '.join(notes)}"
        )


def print_reads(title: str, figures: Sequence[ReadFigure]) -> None:
    print()
    print(f"{title:<58} {'reads':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for fig in figures:
        label = f"{fig.label} {fig.note}".rstrip()
        p50, p99 = ms(percentile(fig.samples, 50)), ms(percentile(fig.samples, 99))
        print(f"{label:<58} {len(fig.samples):>6} {p50:>8} {p99:>8}")
