"""Every figure of a ``make bench`` run in one place: written as JSON under ``bench/results/``
(``<UTC timestamp>-<short commit>.json``, see its README) and printed as the one-screen summary
that ends the run.

A figure is a name, a rate and its unit, the ratio of that rate to the run's TPC-B tps
(``bench.pgbench``), latency percentiles (what one sample is: ``latency``), and CPU milliseconds
per operation by tier: ``app`` (the bench process that calls the service, doing what a web or
Celery process does), ``web`` (gunicorn's processes), ``worker`` (Celery's), ``postgres`` (every
PostgreSQL process), ``broker`` (RabbitMQ or Redis) and ``load_generator`` (pgbench, the HTTP
client).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA = 1
#: tier -> its short name in the summary
TIERS = {"app": "app", "web": "web", "worker": "worker", "postgres": "pg", "broker": "broker", "load_generator": "load"}
SETTINGS = ("synchronous_commit", "fsync", "wal_sync_method", "full_page_writes", "shared_buffers", "max_connections")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the baseline, the HTTP runs and the batch-size sweep (issue 10)."""
    group = parser.add_argument_group("baseline, HTTP runs, batch-size sweep and results")
    group.add_argument(
        "--pgbench-seconds", type=float, default=15, help="length of the TPC-B baseline run (default 15)"
    )
    group.add_argument("--no-pgbench", action="store_true", help="no TPC-B baseline (every ratio to it is n/a)")
    group.add_argument(
        "--http-orders", type=int, default=3000, help="orders of the closed-loop HTTP run (default 3000)"
    )
    group.add_argument(
        "--http-rate", type=float, default=150, help="offered orders/s of the open-loop HTTP run (default 150)"
    )
    group.add_argument("--no-http", action="store_true", help="no HTTP runs (gunicorn and an httpx client)")
    group.add_argument(
        "--batch-sizes",
        type=_sizes,
        default=(1, 10, 50, 100, 250, 500),
        help="order_place_batch sizes of the sweep, comma-separated (default 1,10,50,100,250,500; '' skips it)",
    )
    group.add_argument("--no-results", action="store_true", help="do not write the JSON file under bench/results/")


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("batch sizes are positive integers")
    return sizes


def latency_ms(samples: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(p50, p95, p99) of latencies in seconds, in milliseconds; None for no samples."""
    if not samples:
        return None, None, None
    p50, p95, p99 = (report.percentile(samples, q) * 1000 for q in (50, 95, 99))
    return p50, p95, p99


def per_op_ms(seconds: float | None, ops: int) -> float | None:
    return seconds / ops * 1000 if seconds is not None and ops else None


@dataclass
class Figure:
    name: str
    group: str
    rate: float | None
    unit: str
    count: int
    seconds: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: what one latency sample is: "per call", "per batch", "placement to filled", "from the scheduled send"
    latency: str = "per call"
    cpu_ms_per_op: dict[str, float | None] = field(default_factory=dict)
    x_tpcb: float | None = None
    batch_size: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _unit(label: str) -> str:
    if "FILL" in label:
        return "fills/s"
    return "orders/s" if "order" in label or label.startswith("POST") else "tx/s"


def _git(*args: str) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never touch the index
    try:
        done = subprocess.run(
            ["git", "-C", str(RESULTS_DIR.parent.parent), *args], capture_output=True, text=True, env=env, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def commit_info() -> dict[str, Any]:
    """The commit the code is at, and the files of the code that differ from it."""
    paths = ("apps", "plugins", "config", "bench", "scripts", ":(exclude)bench/results")
    changed = _git("diff", "--name-only", "HEAD", "--", *paths).splitlines()
    changed += _git("ls-files", "--others", "--exclude-standard", "--", *paths).splitlines()
    return {
        "hash": _git("rev-parse", "HEAD") or None,
        "short": _git("rev-parse", "--short", "HEAD") or "nogit",
        "subject": _git("log", "-1", "--format=%s")[:200],
        "committed_at": _git("log", "-1", "--format=%cI") or None,
        "uncommitted": sorted(path for path in changed if path),
    }


def postgres_settings() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        values = {"server_version": str(cursor.fetchone()[0])}
        for name in SETTINGS:
            cursor.execute("SELECT current_setting(%s)", [name])
            values[name] = str(cursor.fetchone()[0])
    return values


class Collector:
    """The figures of one run, in the order they were measured."""

    def __init__(self, args: argparse.Namespace, *, embedded: bool) -> None:
        self.options = {key: list(value) if isinstance(value, tuple) else value for key, value in vars(args).items()}
        self.embedded = embedded
        self.write_json = not getattr(args, "no_results", False)
        self.started = datetime.now(UTC)
        self.commit = commit_info()  # at the start: the code that runs (a commit made meanwhile is not it)
        self.load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        self.figures: list[Figure] = []
        self.tpcb: dict[str, Any] | None = None

    # --- the baseline ------------------------------------------------------------------------

    def baseline(self, server_url: str, *, seconds: float, skip: bool, progress: Callable[[str], None]) -> None:
        """Run TPC-B on the bench's server (unless ``skip``), print its line, set the ratios' base."""
        from bench import pgbench

        if skip:
            run = pgbench.TpcB(None, "not measured (--no-pgbench)")
        else:
            progress(f"TPC-B baseline: pgbench -i -s {pgbench.SCALE}, then -c 4 -j 2 -T {seconds:g}")
            run = pgbench.measure(server_url, seconds=seconds)
        print(pgbench.describe(run))
        report.TPCB_TPS = run.tps
        summary = {key: value for key, value in asdict(run).items() if key != "latencies"}
        p50, p95, p99 = latency_ms(run.latencies)
        self.tpcb = {**summary, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
        if run.tps is not None:
            self.figure(
                f"TPC-B (pgbench -c {run.clients} -j {run.threads}, scale {run.scale})",
                "baseline",
                rate=run.tps,
                unit="tx/s",
                count=run.transactions,
                seconds=run.seconds,
                latencies=run.latencies,
                cpu={
                    "postgres": per_op_ms(run.postgres_cpu, run.transactions),
                    "load_generator": per_op_ms(run.client_cpu, run.transactions),
                },
            )

    # --- adding figures ----------------------------------------------------------------------

    def figure(
        self,
        name: str,
        group: str,
        *,
        rate: float | None,
        unit: str,
        count: int,
        seconds: float | None,
        latencies: Sequence[float],
        latency: str = "per call",
        cpu: dict[str, float | None] | None = None,
        batch_size: int | None = None,
        notes: dict[str, Any] | None = None,
    ) -> Figure:
        p50, p95, p99 = latency_ms(latencies)
        ratio = rate / report.TPCB_TPS if rate is not None and report.TPCB_TPS else None
        fig = Figure(name, group, rate, unit, count, seconds, p50, p95, p99, latency, cpu or {}, ratio, batch_size)
        fig.notes = notes or {}
        self.figures.append(fig)
        return fig

    def write(
        self,
        fig: report.WriteFigure,
        group: str,
        *,
        batch_size: int | None = None,
        name: str | None = None,
        unit: str | None = None,
    ) -> Figure:
        """A figure of ``report.print_writes`` (a batch figure's rate counts orders, its latency batches)."""
        found = re.search(r"(\d+) limit buys a batch", fig.label)
        batch_size = batch_size or (int(found.group(1)) if found else None)
        notes: dict[str, Any] = {"workers": fig.workers, "retries": fig.retries, "deadlocks": fig.deadlocks}
        notes.update({"errors": fig.errors, "outcomes": fig.outcomes, "rollbacks": fig.rollbacks})
        return self.figure(
            name or fig.label,
            group,
            rate=fig.rate,
            unit=unit or _unit(fig.label),
            count=fig.postings,
            seconds=fig.wall_seconds,
            latencies=fig.latencies,
            latency="per batch" if batch_size else "per call",
            cpu={"app": per_op_ms(fig.client_cpu, fig.postings), "postgres": per_op_ms(fig.server_cpu, fig.postings)},
            batch_size=batch_size,
            notes=notes,
        )

    def writes(self, figures: Sequence[report.WriteFigure], group: str) -> None:
        for fig in figures:
            self.write(fig, group)

    def reads(self, figures: Sequence[report.ReadFigure]) -> None:
        """Read latencies (one reader at a time: no rate)."""
        for fig in figures:
            label = f"{fig.label} {fig.note}".rstrip()
            self.figure(label, "reads", rate=None, unit="", count=len(fig.samples), seconds=None, latencies=fig.samples)

    def sequencer(self, *, numbered: int, seconds: float, lag_p50: float, lag_p99: float, lagged: int) -> None:
        self.figure(
            "sequencer, numbering the history after its build",
            "sequencer",
            rate=numbered / seconds if seconds else None,
            unit="tx/s",
            count=numbered,
            seconds=seconds,
            latencies=[],
        )
        lag = self.figure(
            "sequencer lag, posted_at to assigned_at",
            "sequencer",
            rate=None,
            unit="",
            count=lagged,
            seconds=None,
            latencies=[],
        )
        lag.p50_ms, lag.p99_ms, lag.latency = lag_p50 * 1000, lag_p99 * 1000, "posted to numbered"

    def end_to_end(self, e2e: Any) -> None:
        """The end-to-end run (``bench.pipeline.EndToEnd``, read by name: its fields may grow)."""
        filled, window = int(getattr(e2e, "filled", 0)), float(getattr(e2e, "window", 0.0))
        services: dict[str, float] = dict(getattr(e2e, "services", None) or {})
        batch = int(getattr(e2e, "batch", 0) or 0) or None
        processes = int(getattr(e2e, "worker_processes", 1) or 1)
        entry = f"batch entry, {batch} a call" if batch else "single orders"
        cpu = {
            "app": per_op_ms(getattr(e2e, "placement_client_cpu", None), filled),
            "worker": per_op_ms(getattr(e2e, "worker_cpu", None), filled),
            "postgres": per_op_ms(services.get("PostgreSQL"), filled),
            "broker": per_op_ms(services.get("RabbitMQ", services.get("Redis")), filled),
        }
        notes = {
            "broker": getattr(e2e, "broker", ""),
            "clients": getattr(e2e, "clients", None),
            "worker_processes": processes,
            "statuses": getattr(e2e, "statuses", {}),
            "timed_out": getattr(e2e, "timed_out", None),
            "errors": getattr(e2e, "errors", {}),
        }
        self.figure(
            f"end to end ({entry}, {processes} worker process{'es' if processes > 1 else ''})",
            "end to end",
            rate=filled / window if window else None,
            unit="orders/s",
            count=filled,
            seconds=window,
            latencies=list(getattr(e2e, "total", [])),
            latency="placement to filled",
            cpu=cpu,
            batch_size=batch,
            notes=notes,
        )
        orders, placing = int(getattr(e2e, "orders", 0)), float(getattr(e2e, "placement_seconds", 0.0))
        self.figure(
            f"end to end, placement while the worker ran ({entry})",
            "end to end",
            rate=orders / placing if placing else None,
            unit="orders/s",
            count=orders,
            seconds=placing,
            latencies=list(getattr(e2e, "placement_latencies", [])),
            latency="per batch" if batch else "per call",
            cpu={"app": per_op_ms(getattr(e2e, "placement_client_cpu", None), orders)},
            batch_size=batch,
        )

    # --- the end of the run ------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        machine = report.machine(embedded=self.embedded)
        return {
            "schema": SCHEMA,
            "started_at": self.started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": self.commit,
            "machine": {
                "cpus": machine.cpus,
                "cpu_model": machine.cpu_model,
                "memory_gib": round(machine.memory_gib, 1),
                "python": machine.python,
                "kernel": platform.release(),
                "load_before": self.load_before,
                "load_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
            },
            "postgres": {"server": machine.server, "settings": postgres_settings()},
            "options": self.options,
            "tpcb": self.tpcb,
            "figures": [asdict(fig) for fig in self.figures],
        }

    def save(self, document: dict[str, Any], folder: Path = RESULTS_DIR) -> Path:
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp}-{document['commit']['short']}.json"
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def finish(self) -> None:
        """Write the JSON file (unless --no-results) and print the summary: the run's last lines."""
        document = self.document()
        where = "not written (--no-results)"
        if self.write_json:
            try:
                path = self.save(document)
                where = str(path.relative_to(RESULTS_DIR.parent.parent))
            except (OSError, ValueError) as exc:
                where = f"NOT written: {exc}"
        print_summary(self.figures, document, where)


def _cpu_text(cpu: dict[str, float | None]) -> str:
    parts = [f"{TIERS.get(tier, tier)} {value:.2f}" for tier, value in cpu.items() if value is not None]
    return " + ".join(parts) if parts else "n/a"


def print_summary(figures: Sequence[Figure], document: dict[str, Any], where: str) -> None:
    """The one-screen summary: every figure with a rate."""
    rated = [fig for fig in figures if fig.rate is not None]
    width = max([44, *(len(fig.name) for fig in rated)])
    tpcb = f"TPC-B {report.TPCB_TPS:,.0f} tps" if report.TPCB_TPS else "TPC-B n/a"
    commit = document["commit"]
    settings = document["postgres"]["settings"]
    print()
    print(
        f"Summary: commit {commit['short']}{' (uncommitted changes)' if commit['uncommitted'] else ''}, "
        f"{document['machine']['cpus']} CPUs, PostgreSQL {settings.get('server_version')} "
        f"(synchronous_commit={settings.get('synchronous_commit')}, fsync={settings.get('fsync')}), {tpcb}"
    )
    column = report.TPCB_COLUMN
    print(f"{'figure':<{width}} {'rate':>9} {'unit':<8} {column:>7} {'p99 ms':>8}  CPU ms/op by tier")
    for fig in rated:
        p99 = f"{fig.p99_ms:,.1f}" if fig.p99_ms is not None else ""
        ratio = f"{fig.x_tpcb:.2f}" if fig.x_tpcb is not None else "n/a"
        cpu = _cpu_text(fig.cpu_ms_per_op)
        print(f"{fig.name:<{width}} {fig.rate or 0:>9,.0f} {fig.unit:<8} {ratio:>7} {p99:>8}  {cpu}")
    print(
        "p99: per call; per batch for batch figures, placement to filled end to end, from the scheduled send in "
        "the open loop. CPU: app = the bench process calling the service, web = gunicorn, worker = Celery, "
        "pg = PostgreSQL, load = pgbench or the HTTP client."
    )
    print(f"results   {where}")
