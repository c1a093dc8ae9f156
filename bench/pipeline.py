"""End to end: orders placed by client processes, relayed by a REAL Celery worker through a
real broker to the paper broker, and booked from its execution reports.

The broker is chosen before Django reads its settings (``choose_broker``): the local RabbitMQ
if it answers, else the local Redis if it answers and its client library is installed, else
kombu's filesystem transport in a private temporary folder. Every bench process sends the
relay task to a queue of its own (``BENCH_CELERY_QUEUE``, set up by ``bench.database``), and
the worker consumes only that queue, so no other worker on the machine takes the messages
and this worker takes no one else's. The queue (or folder) is deleted at the end.

The worker is ``celery -A config worker --pool=prefork --concurrency=2`` in its own process
group; it is always stopped (warm shutdown, then SIGKILL of its group) before the bench goes on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import percentile

BASE_DIR = Path(__file__).resolve().parent.parent
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
REDIS = "redis://127.0.0.1:6379/0"
QUEUE_VARIABLE = "BENCH_CELERY_QUEUE"
READY_SECONDS = 60
E2E_PREFIX = "e2e"


@dataclass(frozen=True)
class Broker:
    kind: str
    url: str
    queue: str
    #: the filesystem transport's private folder (deleted at the end), else None
    folder: Path | None = None
    note: str = ""

    def describe(self) -> str:
        where = f"{self.url} in {self.folder}" if self.folder else self.url
        return f"{self.kind} ({where}), queue {self.queue}" + (f"; {self.note}" if self.note else "")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _amqp_works(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
            return True
    except Exception:
        return False


def choose_broker(prefer: str = "auto") -> Broker:
    """Pick the broker (``prefer``: auto, rabbitmq, redis or filesystem) and export it to this
    process and every process started after, before ``django.setup()``: the settings read
    ``CELERY_BROKER_URL`` and ``CELERY_FILESYSTEM_DIR``."""
    queue = f"bench-relay-{uuid.uuid4().hex[:8]}"
    notes = []
    broker: Broker | None = None
    if prefer == "filesystem":
        notes.append("filesystem transport asked for (--broker filesystem)")
    elif prefer in ("auto", "rabbitmq") and _answers("127.0.0.1", 5672) and _amqp_works(RABBITMQ):
        broker = Broker("RabbitMQ", RABBITMQ, queue)
    else:
        notes.append("RabbitMQ not reachable" if prefer != "redis" else "Redis asked for (--broker redis)")
        if _answers("127.0.0.1", 6379):
            if importlib.util.find_spec("redis") is not None:
                broker = Broker("Redis", REDIS, queue)
            else:
                notes.append("Redis answers but the redis client library is not installed")
        else:
            notes.append("Redis not reachable")
    if broker is None:
        folder = Path(tempfile.mkdtemp(prefix="bench-celery-"))
        broker = Broker("filesystem transport", "filesystem://", queue, folder, "; ".join(notes))
        os.environ.pop("CELERY_BROKER_URL", None)
        os.environ["CELERY_FILESYSTEM_DIR"] = str(folder)
    else:
        os.environ["CELERY_BROKER_URL"] = broker.url
    os.environ[QUEUE_VARIABLE] = queue
    return broker


def route_to_bench_queue() -> None:
    """In a bench process, after ``django.setup()``: send every task to the bench's own queue."""
    queue = os.environ.get(QUEUE_VARIABLE)
    if not queue:
        return
    from config.celery_app import app

    app.conf.task_default_queue = queue
    app.conf.task_routes = {"*": {"queue": queue}}


def cleanup(broker: Broker) -> None:
    """Delete the bench's queue (RabbitMQ, Redis) or its private folder (filesystem)."""
    if broker.folder is not None:
        shutil.rmtree(broker.folder, ignore_errors=True)
        return
    from config.celery_app import app

    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # py-amqp's channel: queue_delete is not in kombu's stubs
        channel.queue_delete(broker.queue)


# --- the worker --------------------------------------------------------------------------


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a process; with ``reaped``, plus those of its children
    that have exited and been waited for (a PostgreSQL postmaster's ended backends)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the prefork pool) so far."""
    return _cpu_seconds(pid) + sum(_cpu_seconds(child) for child in _children(pid))


#: processes whose CPU the end-to-end figure reports by name (/proc/<pid>/comm)
SERVICES = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ", "redis-server": "Redis"}


def services_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every PostgreSQL, RabbitMQ and Redis process on the machine,
    including their children that have ended (backends that closed their connection)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as handle:
                name = SERVICES.get(handle.read().strip())
        except OSError:
            continue
        if name is not None:
            found[int(entry)] = (name, _cpu_seconds(int(entry), reaped=True))
    return found


def services_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per service between two snapshots, of the processes alive at the end (a
    backend that ended in between is counted by its postmaster, with its whole life's CPU)."""
    spent: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        spent[name] = spent.get(name, 0.0) + cpu - before.get(pid, (name, 0.0))[1]
    return spent


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / tick, sum(values) / tick


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_for_ready(worker: Worker) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if re.search(r"\bready\.", worker.text()):
            return
        if worker.process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the Celery worker did not become ready; its log:\n{worker.text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # warm shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the worker's own group: anything left of its pool
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@contextlib.contextmanager
def celery_worker(broker: Broker, log: Path, concurrency: int = 2) -> Iterator[Worker]:
    """A real worker on the bench database and the bench queue, stopped on the way out."""
    env = {**os.environ, "DJANGO_LOG_LEVEL": "INFO"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"]
    command += [f"--concurrency={concurrency}", "-Q", broker.queue, "--without-mingle", "--without-gossip"]
    command += ["--without-heartbeat", "-l", "info", "-n", f"{broker.queue}-{uuid.uuid4().hex[:6]}@%h"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(process, log)
    try:
        _wait_for_ready(worker)
        yield worker
    finally:
        _stop(process)


_SUCCEEDED = re.compile(r"Task brokers\.relay\[[^\]]+\] succeeded in ([\d.]+)s: (\d+)")


@dataclass
class TaskStats:
    tasks: int = 0
    empty: int = 0
    seconds: float = 0.0
    empty_seconds: float = 0.0
    handled: int = 0
    largest: int = 0
    failures: int = 0


def task_stats(text: str) -> TaskStats:
    stats = TaskStats()
    for seconds_text, handled_text in _SUCCEEDED.findall(text):
        seconds, handled = float(seconds_text), int(handled_text)
        stats.tasks += 1
        stats.seconds += seconds
        stats.handled += handled
        stats.largest = max(stats.largest, handled)
        if handled == 0:
            stats.empty += 1
            stats.empty_seconds += seconds
    stats.failures = len(re.findall(r"Task brokers\.relay\[[^\]]+\] (?:raised|retry)", text))
    return stats


# --- the measurement ---------------------------------------------------------------------


@dataclass
class EndToEnd:
    broker: str
    clients: int
    orders: int
    placement_seconds: float
    placement_latencies: list[float]
    placement_client_cpu: float
    statuses: dict[str, int]
    filled: int
    #: first placement (created_at) to last fill booked, seconds
    window: float
    #: per filled order, seconds: placement to filled, placement to routed, routed to filled
    total: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    relaying: list[float] = field(default_factory=list)
    tasks: TaskStats = field(default_factory=TaskStats)
    worker_cpu: float = 0.0
    #: CPU seconds per service (PostgreSQL, RabbitMQ, Redis) of processes alive at both ends
    services: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    machine_seconds: float = 0.0
    cpus: int = 1
    timed_out: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    drain: Drain | None = None
    #: orders per placement call (0: single orders), relaying worker processes
    batch: int = 0
    worker_processes: int = 1


DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Drain:
    #: relay tasks still queued when the last order was filled
    queued: int
    #: how many tasks ran while draining (each one found nothing), in how long, at what worker CPU
    tasks: int
    seconds: float
    worker_cpu: float
    complete: bool


def pending_messages(broker: Broker) -> int | None:
    """Messages ready in the bench queue (not counting those a worker has reserved)."""
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            channel: Any = conn.default_channel
            return int(channel.queue_declare(queue=broker.queue, passive=True).message_count)
    except Exception:
        return None


def _drain(broker: Broker, worker: Worker, limit: float) -> Drain | None:
    queued = pending_messages(broker)
    if queued is None:
        return None
    before_tasks, before_cpu, began = task_stats(worker.text()).tasks, tree_cpu(worker.process.pid), time.monotonic()
    complete = False
    while time.monotonic() - began < limit:
        if pending_messages(broker) == 0:
            complete = True
            break
        time.sleep(0.2)
    time.sleep(0.5)  # the last reserved tasks finish
    seconds = time.monotonic() - began
    ran = task_stats(worker.text()).tasks - before_tasks
    return Drain(queued, ran, seconds, tree_cpu(worker.process.pid) - before_cpu, complete)


_MEASURED = "o.client_order_id LIKE %(prefix)s AND o.client_order_id NOT LIKE '%%-warmup-%%'"


def _progress(prefix: str, warmup: bool) -> tuple[int, int]:
    """(orders, of which finished: filled, rejected or canceled) under ``prefix``."""
    from django.db import connection

    which = "o.client_order_id LIKE %(prefix)s" + (
        " AND o.client_order_id LIKE '%%-warmup-%%'" if warmup else " AND o.client_order_id NOT LIKE '%%-warmup-%%'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE o.status IN ('filled', 'rejected', 'canceled', 'expired')) "
            f"FROM orders_order o WHERE {which}",
            {"prefix": f"{prefix}-%"},
        )
        total, done = cursor.fetchone()
    return int(total), int(done)


def _wait_until_done(prefix: str, *, expected: int, warmup: bool, deadline: float, stall: float = 30.0) -> bool:
    """Poll until ``expected`` orders are finished; False on the deadline or with no progress for ``stall`` s."""
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        _, done = _progress(prefix, warmup)
        if done >= expected:
            return True
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since > stall:
            return False
        time.sleep(0.1)
    return False


def measure(
    *,
    broker: Broker,
    actor_id: int,
    accounts: tuple[int, ...],
    orders: int,
    clients: int,
    timeout: float,
    log: Path,
    batch: int = 0,
    worker_processes: int = 1,
    prefix: str = E2E_PREFIX,
) -> EndToEnd:
    """Place ``orders`` market orders from ``clients`` processes (one at a time, or ``batch`` to a
    call of the batch entry) while ``worker_processes`` real workers relay them (their relay loops)."""
    import multiprocessing

    from django.db import connection

    from bench import trade, workers

    context = multiprocessing.get_context("spawn")
    if batch:
        os.environ["BENCH_E2E_BATCH"] = str(batch)  # read by the spawned placers
    mode = "bench.trade:place_market_batch" if batch else "bench.trade:place_market"
    calls = -(-orders // batch) if batch else orders
    plan = workers.specs(mode, workers=clients, total=calls, actor_id=actor_id, ids=accounts, key=prefix)
    warmup = workers.WARMUP * clients * (trade.WARMUP_BATCH if batch else 1)
    expected = calls * batch if batch else orders
    marks: dict[str, float] = {}
    services_before: dict[int, tuple[str, float]] = {}
    with contextlib.ExitStack() as stack:
        pool = [
            stack.enter_context(celery_worker(broker, log.with_name(f"{log.stem}-{n}{log.suffix}"), concurrency=1))
            for n in range(worker_processes)
        ]
        worker = pool[0]

        def pool_cpu() -> float:
            return sum(tree_cpu(w.process.pid) for w in pool)

        def before_go() -> None:
            # the warm-up orders are relayed and filled first, so the window holds only measured ones
            _wait_until_done(prefix, expected=warmup, warmup=True, deadline=time.monotonic() + 60)
            marks["worker"] = pool_cpu()
            marks["busy"], marks["all"] = machine_busy()
            services_before.update(services_cpu())

        placed = workers.run(plan, context, before_go=before_go)
        finished = _wait_until_done(prefix, expected=expected, warmup=False, deadline=time.monotonic() + timeout)
        worker_cpu = pool_cpu() - marks.get("worker", 0.0)
        busy, total = machine_busy()
        services = services_delta(services_before, services_cpu())
        time.sleep(0.5)  # let the log catch up with the last task
        stats = task_stats(worker.text())
        # Every placement enqueued one relay task; those still queued now find nothing to do.
        # Let the worker drain them (bounded): that work is part of each order's cost too.
        drain = _drain(broker, worker, DRAIN_SECONDS)
    result = EndToEnd(
        broker=broker.describe(),
        clients=clients,
        orders=len(placed.latencies) * (batch or 1),
        batch=batch,
        worker_processes=worker_processes,
        placement_seconds=placed.wall_seconds,
        placement_latencies=placed.latencies,
        placement_client_cpu=placed.client_cpu,
        statuses={},
        filled=0,
        window=0.0,
        tasks=stats,
        worker_cpu=worker_cpu,
        services=services,
        machine_busy=busy - marks.get("busy", busy),
        machine_seconds=total - marks.get("all", total),
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        timed_out=not finished,
        errors=placed.errors,
        drain=drain,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.status, count(*) FROM orders_order o WHERE {_MEASURED} GROUP BY o.status",
            {"prefix": f"{prefix}-%"},
        )
        result.statuses = {status: int(count) for status, count in cursor.fetchall()}
        cursor.execute(
            f"""
            SELECT extract(epoch FROM o.created_at), extract(epoch FROM r.at), extract(epoch FROM f.booked_at)
              FROM orders_order o
              JOIN LATERAL (SELECT max(booked_at) AS booked_at FROM orders_fill WHERE order_id = o.id) f ON true
              LEFT JOIN LATERAL (SELECT min(at) AS at FROM orders_orderevent
                                  WHERE order_id = o.id AND kind = 'routed') r ON true
             WHERE {_MEASURED} AND o.status = 'filled'
            """,
            {"prefix": f"{prefix}-%"},
        )
        rows = [(float(c), float(r) if r is not None else None, float(b)) for c, r, b in cursor.fetchall()]
    connection.close()
    if rows:
        first = min(created for created, _, _ in rows)
        last = max(booked for _, _, booked in rows)
        result.window = last - first
        result.filled = len(rows)
        result.total = [booked - created for created, _, booked in rows]
        result.waiting = [routed - created for created, routed, _ in rows if routed is not None]
        result.relaying = [booked - routed for _, routed, booked in rows if routed is not None]
    return result


def _dist(values: list[float]) -> str:
    if not values:
        return "n/a"
    parts = [f"p{q} {percentile(values, q) * 1000:,.0f}" for q in (50, 90, 99)]
    return " / ".join(parts) + f" / max {max(values) * 1000:,.0f} ms"


def print_end_to_end(e2e: EndToEnd) -> None:
    print()
    entry = f"order_place_batch ({e2e.batch} a call)" if e2e.batch else "order_place"
    plural = "es" if e2e.worker_processes > 1 else ""
    print(
        f"End to end: {entry} -> outbox -> relay loop of {e2e.worker_processes} Celery worker process{plural} "
        "(LISTEN/NOTIFY, batch submit) -> paper broker -> batched intake"
    )
    print(f"  broker      {e2e.broker}")
    rate = e2e.orders / e2e.placement_seconds if e2e.placement_seconds else 0.0
    per_call = f" per call of {e2e.batch}" if e2e.batch else ""
    print(
        f"  placed      {e2e.orders:,} market orders (1 share, random account and instrument) from {e2e.clients} "
        f"client processes in {e2e.placement_seconds:.1f} s: {rate:,.0f} orders/s while the worker ran; "
        f"placement p50 {percentile(e2e.placement_latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(e2e.placement_latencies, 99) * 1000:.1f} ms{per_call}"
    )
    statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(e2e.statuses.items()))
    end_rate = e2e.filled / e2e.window if e2e.window else 0.0
    verdict = "" if not e2e.timed_out else "  (NOT all filled before the deadline: the rate covers those that were)"
    print(
        f"  filled      {e2e.filled:,} of {e2e.orders:,} in {e2e.window:.1f} s from the first placement to the last "
        f"fill: {end_rate:,.0f} orders/s end to end{verdict}"
    )
    print(f"              statuses: {statuses}")
    if e2e.errors:
        print(f"              placement errors: {e2e.errors}")
    print(f"  latency     placement -> filled:  {_dist(e2e.total)}")
    print(f"              placement -> routed (waiting for the relay):   {_dist(e2e.waiting)}")
    print(f"              routed -> filled (paper broker, two reports booked): {_dist(e2e.relaying)}")
    stats = e2e.tasks
    mean = stats.seconds / stats.tasks * 1000 if stats.tasks else 0.0
    print(
        f"  worker      {stats.tasks:,} brokers.relay tasks ran ({stats.empty:,} found nothing to do, "
        f"{stats.empty_seconds:.1f} s of {stats.seconds:.1f} s busy; mean {mean:.1f} ms); "
        f"{stats.handled:,} instructions handled (warm-up included), at most {stats.largest} by one task; "
        f"{stats.failures} failed"
    )
    if e2e.filled and e2e.machine_seconds:
        window_cpus = e2e.machine_seconds
        busy_share = e2e.machine_busy / window_cpus * 100
        per_order = e2e.machine_busy / e2e.filled * 1000
        worker = e2e.worker_cpu / e2e.filled * 1000
        clients = e2e.placement_client_cpu / e2e.filled * 1000
        services = {name: seconds / e2e.filled * 1000 for name, seconds in e2e.services.items()}
        rest = max(per_order - worker - clients - sum(services.values()), 0.0)
        named = " + ".join(f"{name} {value:.1f}" for name, value in sorted(services.items()))
        print(
            f"  CPU         machine {busy_share:.0f} % busy over {e2e.cpus} CPUs from the start to the last fill: "
            f"{per_order:.1f} ms of CPU per order = worker (relay, paper, intake) {worker:.1f} + clients "
            f"(placing) {clients:.1f} + {named} + the rest (kernel, other processes) {rest:.1f}"
        )
        ceiling = e2e.cpus * 1000 / per_order if per_order else 0.0
        print(f"              at that CPU cost, {e2e.cpus} CPUs cap the pipeline at ~{ceiling:,.0f} orders/s")
    drain = e2e.drain
    if drain is not None and e2e.filled:
        state = "drained" if drain.complete else f"NOT drained within {DRAIN_SECONDS:.0f} s"
        per_task = drain.worker_cpu / drain.tasks * 1000 if drain.tasks else 0.0
        print(
            f"  leftovers   {drain.queued:,} relay tasks were still queued at the last fill (one is enqueued per "
            f"order); {state}: {drain.tasks:,} ran in {drain.seconds:.1f} s, {drain.worker_cpu:.1f} s of worker "
            f"CPU ({per_task:.1f} ms each, {drain.worker_cpu / e2e.filled * 1000:.1f} ms per order, not in the figures "
            "above)"
        )
    if e2e.total:
        print(
            f"  (mean placement -> filled {statistics.fmean(e2e.total) * 1000:,.0f} ms: the orders come as a burst, "
            "so latency grows with the backlog)"
        )
