"""Scenarios run in worker PROCESSES (spawned: one interpreter, one connection each).

Each worker sets Django up, resolves what it needs, runs a few warm-up iterations, says it
is ready, and waits for the common start signal; the parent then measures the wall time
from the first worker's start to the last worker's end. Every iteration goes through the
normal service path (ledger postings: idempotency key, locks, overdraft check, durable
transaction; the trade path: ``order_place`` and the report intake, see ``bench.trade``).
"""

from __future__ import annotations

import importlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.context import SpawnContext
from multiprocessing.synchronize import Event
from queue import Empty
from typing import TYPE_CHECKING

from bench import database

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

#: "transfer", "hotspot", "deposit", or "module:function" naming a factory ``(spec) -> step`` (bench.trade)
Mode = str
AMOUNT = Decimal("1.00")
WARMUP = 20


@dataclass(frozen=True)
class Spec:
    mode: Mode
    index: int
    count: int
    actor_id: int
    #: ledger account ids (transfer: the pool; hotspot: the two accounts), trading account ids
    #: (deposit, placing orders) or order ids (booking fills: this worker's own, warm-up first)
    ids: tuple[int, ...]
    key_prefix: str


@dataclass
class Result:
    index: int
    started: float
    ended: float
    latencies: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    #: what the iterations returned, counted: an order's status (and reject reason), an intake verdict
    outcomes: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    #: CPU seconds this worker's Python process spent in the measured loop
    client_cpu: float = 0.0
    #: CPU seconds its PostgreSQL backend spent (None when the server's /proc is not readable)
    server_cpu: float | None = None


def _count_retryable() -> list[int]:
    """Count the deadlocks and serialization failures that ``atomic_with_retry`` sees (and retries).

    Wraps ``apps.core.db.is_retryable`` in this worker process only; behaviour is unchanged.
    """
    from apps.core import db

    seen = [0]
    original = db.is_retryable

    def counting(exc: BaseException) -> bool:
        retryable = original(exc)
        if retryable:
            seen[0] += 1
        return retryable

    db.is_retryable = counting
    return seen


def _step(spec: Spec) -> Callable[[str], object]:
    """The posting one iteration performs, given its idempotency key."""
    if ":" in spec.mode:
        module, name = spec.mode.split(":", 1)
        factory: Callable[[Spec], Callable[[str], object]] = getattr(importlib.import_module(module), name)
        return factory(spec)
    from apps.accounts.models import TradingAccount
    from apps.ledger.services import cash_deposit, journal_transaction_post
    from apps.users.models import User

    actor = User.objects.get(pk=spec.actor_id)
    rng = random.Random(spec.index)

    if spec.mode == "transfer":
        pool = list(spec.ids)

        def transfer(key: str) -> object:
            source, target = rng.sample(pool, 2)
            legs = [(source, -AMOUNT), (target, AMOUNT)]
            return journal_transaction_post(actor=actor, kind="transfer", legs=legs, idempotency_key=key)

        return transfer
    if spec.mode == "hotspot":
        first, second = spec.ids if spec.index % 2 == 0 else reversed(spec.ids)
        legs = [(first, -AMOUNT), (second, AMOUNT)]

        def hot(key: str) -> object:
            return journal_transaction_post(actor=actor, kind="transfer", legs=legs, idempotency_key=key)

        return hot
    accounts = list(TradingAccount.objects.filter(pk__in=spec.ids).order_by("pk"))
    counter = iter(range(1 << 62))

    def deposit(key: str) -> object:
        account = accounts[next(counter) % len(accounts)]
        return cash_deposit(actor=actor, trading_account=account, currency="USD", amount="10.00", idempotency_key=key)

    return deposit


def outcome(result: object) -> str | None:
    """How to count what one iteration returned: the intake's verdict, an order's status."""
    if isinstance(result, str):
        return result
    status = getattr(result, "status", None)
    if not isinstance(status, str):
        return None
    reason = getattr(result, "reject_reason", "")
    return f"{status} ({reason})" if reason else status


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a local PostgreSQL backend, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def work(spec: Spec, ready: Queue[int], go: Event, results: Queue[Result]) -> None:
    """A worker process's body (the target of ``multiprocessing``)."""
    database.django_setup()
    from django.db import connection

    from apps.core.errors import ApplicationError

    retryable = _count_retryable()
    step = _step(spec)
    for n in range(WARMUP):
        step(f"{spec.key_prefix}-{spec.index}-warmup-{n}")
    retryable[0] = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    ready.put(backend)
    go.wait()
    errors: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    server_before = _backend_cpu(backend)
    client_before = time.process_time()
    started = time.monotonic()
    for n in range(spec.count):
        began = time.perf_counter()
        try:
            counted = outcome(step(f"{spec.key_prefix}-{spec.index}-{n}"))
            if counted is not None:
                outcomes[counted] += 1
        except ApplicationError as exc:
            errors[exc.code] += 1
        except Exception as exc:
            errors[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - began)
    ended = time.monotonic()
    client_cpu = time.process_time() - client_before
    server_after = _backend_cpu(backend)
    server_cpu = server_after - server_before if server_before is not None and server_after is not None else None
    connection.close()
    results.put(
        Result(
            spec.index, started, ended, latencies, dict(errors), dict(outcomes), retryable[0], client_cpu, server_cpu
        )
    )


def _database_counters(exited: Sequence[int] = ()) -> tuple[int, int]:
    """(deadlocks, rolled-back transactions) of the bench database, once the backends of the
    ``exited`` workers are gone (backends flush their statistics when they exit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for _ in range(50 if exited else 0):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(exited)])
            (others,) = cursor.fetchone()
            if not others:
                break
            time.sleep(0.1)
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks, xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        deadlocks, rollbacks = cursor.fetchone()
    return int(deadlocks), int(rollbacks)


@dataclass
class Run:
    wall_seconds: float
    results: list[Result]
    deadlocks: int
    rollbacks: int

    @property
    def latencies(self) -> list[float]:
        return [value for result in self.results for value in result.latencies]

    @property
    def errors(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for result in self.results:
            total.update(result.errors)
        return dict(total)

    @property
    def outcomes(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for result in self.results:
            total.update(result.outcomes)
        return dict(total)

    @property
    def started(self) -> float:
        return min(result.started for result in self.results)

    @property
    def retries(self) -> int:
        return sum(result.retries for result in self.results)

    @property
    def client_cpu(self) -> float:
        return sum(result.client_cpu for result in self.results)

    @property
    def server_cpu(self) -> float | None:
        values = [result.server_cpu for result in self.results]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _wait_ready(ready: Queue[int], processes: Sequence[BaseProcess], timeout: float = 180) -> list[int]:
    """Wait for every worker to be warm; return their PostgreSQL backend pids."""
    deadline = time.monotonic() + timeout
    backends: list[int] = []
    while len(backends) < len(processes):
        try:
            backends.append(ready.get(timeout=1))
        except Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for process in processes:
                    process.kill()
                raise RuntimeError("a benchmark worker failed to start (see its traceback above)") from None
    return backends


def run(specs: list[Spec], context: SpawnContext, before_go: Callable[[], None] | None = None) -> Run:
    """Start one process per spec, release them together, and collect their figures.
    ``before_go`` runs once every worker is warm, just before the start signal."""
    from django.db import connection

    ready: Queue[int] = context.Queue()
    results: Queue[Result] = context.Queue()
    go = context.Event()
    processes = [context.Process(target=work, args=(spec, ready, go, results), daemon=True) for spec in specs]
    for process in processes:
        process.start()
    try:
        backends = _wait_ready(ready, processes)
        if before_go is not None:
            before_go()
        deadlocks_before, rollbacks_before = _database_counters()
        go.set()
        collected: list[Result] = []
        while len(collected) < len(specs):
            try:
                collected.append(results.get(timeout=5))
            except Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    raise RuntimeError("a benchmark worker died (see its traceback above)") from None
        for process in processes:
            process.join(timeout=60)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    deadlocks_after, rollbacks_after = _database_counters(backends)
    connection.close()
    wall = max(r.ended for r in collected) - min(r.started for r in collected)
    return Run(wall, collected, deadlocks_after - deadlocks_before, rollbacks_after - rollbacks_before)


def specs(mode: Mode, *, workers: int, total: int, actor_id: int, ids: tuple[int, ...], key: str) -> list[Spec]:
    """Split ``total`` postings over ``workers`` processes."""
    share, extra = divmod(total, workers)
    return [Spec(mode, index, share + (1 if index < extra else 0), actor_id, ids, key) for index in range(workers)]
