"""Where the time of one posting goes: its queries, their client-side timings, and a profile.

Runs in the parent process, one posting at a time (no contention), on the service path.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.report import percentile

AMOUNT = Decimal("1.00")
BASE_DIR = Path(__file__).resolve().parent.parent

#: Statements the hot paths send, by a fragment of their SQL; anything else is named generically.
LABELS = [
    ("ORDER BY a.id FOR NO KEY UPDATE OF a", "lock: SELECT ledger accounts FOR NO KEY UPDATE (raw)"),
    ("INSERT INTO ledger_unsequenced", "write: transaction, entries, balances, queue (1 statement)"),
    ('FROM "ledger_journaltransaction"', "SELECT transaction by idempotency key"),
    ('FROM "ledger_asset"', "asset_get"),
    ('FROM "ledger_ledgeraccount"', "SELECT ledger accounts (ORM)"),
    ('FROM "users_user"', "system_actor(): SELECT users_user"),
    ("JOIN instruments_instrument i ON i.id", "risk state: account, instrument, reference price (raw)"),
    ("count(*) FILTER (WHERE status = ANY", "activities: open orders, rate, notional (raw)"),
    ('"orders_order"."client_order_id" =', "_replay: SELECT orders_order by client_order_id"),
    ('"claimed_at" <', "UPDATE brokers_orderinstruction: stale in-flight -> unknown"),
    ('"last_error" =', "UPDATE brokers_orderinstruction: finish"),
]
_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.IGNORECASE)


def label(sql: str) -> str:
    """A short name for one statement: a known hot-path statement, else its verb, table and lock."""
    for needle, name in LABELS:
        if needle in sql:
            return name
    text = " ".join(sql.split())
    verb = text.split(" ", 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return {"SAVEPOINT": "SAVEPOINT", "RELEASE": "RELEASE SAVEPOINT", "ROLLBACK": "ROLLBACK TO SAVEPOINT"}[verb]
    if verb == "WITH":
        verb = "WITH … " + next((v for v in ("INSERT", "UPDATE", "DELETE") if f") {v} " in text), "SELECT")
    match = _TABLE.search(text)
    table = match.group(1) if match else "?"
    for flag in ("FOR NO KEY UPDATE", "FOR UPDATE", "ON CONFLICT", "SKIP LOCKED"):
        if flag in text:
            table += f" {flag}"
    return f"{verb} {table}"


@dataclass
class Step:
    name: str
    wall_ms: float
    sql_ms: float

    @property
    def python_ms(self) -> float:
        return self.wall_ms - self.sql_ms


@dataclass
class Anatomy:
    queries: list[str]
    deposit_queries: list[str]
    steps: list[Step]
    statements: dict[str, float]
    total_ms: float
    total_p99_ms: float
    round_trip_ms: float
    postings: int


def _poster(actor_id: int, pool: list[int]) -> Callable[[str], object]:
    from apps.ledger.services import journal_transaction_post
    from apps.users.models import User

    actor = User.objects.get(pk=actor_id)
    rng = random.Random(7)

    def post(key: str) -> object:
        source, target = rng.sample(pool, 2)
        return journal_transaction_post(
            actor=actor, kind="transfer", legs=[(source, -AMOUNT), (target, AMOUNT)], idempotency_key=key
        )

    return post


def capture(call: Callable[[], object]) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return [query["sql"] for query in captured.captured_queries if query["sql"] not in ("BEGIN", "COMMIT")]


class _Spans:
    """Wall-clock spans of the service's steps and of every SQL statement, for one posting."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float, float]] = []
        self.sql: list[tuple[str, float, float]] = []

    def clear(self) -> None:
        self.steps.clear()
        self.sql.clear()

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.steps.append((name, began, time.perf_counter()))

        return timed

    def execute(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sql.append((label(sql), began, time.perf_counter()))

    def sql_within(self, began: float, ended: float) -> float:
        return sum(end - start for _, start, end in self.sql if start >= began and end <= ended)


STEP_NAMES = {
    "lock": "locks.lock_ledger_accounts (1 statement; BEGIN goes with it)",
    "post_locked": "posting.post_locked (checks in Python, then 1 write statement)",
    "commit": "commit (deferred checks, then COMMIT)",
}


def _round_trip(samples: int = 300) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        timings = []
        for _ in range(samples):
            began = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            timings.append(time.perf_counter() - began)
    return statistics.median(timings[20:]) * 1000


def measure(*, actor_id: int, pool: list[int], trading_account_id: int, postings: int) -> Anatomy:
    """Time ``postings`` transfers step by step and statement by statement (medians)."""
    from django.db import connections

    from apps.accounts.models import TradingAccount
    from apps.ledger import locks, services
    from apps.ledger.services import cash_deposit
    from apps.users.models import User

    post = _poster(actor_id, pool)
    for n in range(50):
        post(f"anatomy-warmup-{n}")
    queries = capture(lambda: post("anatomy-capture"))
    actor = User.objects.get(pk=actor_id)
    account = TradingAccount.objects.get(pk=trading_account_id)
    deposit_queries = capture(
        lambda: cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount="1.00", idempotency_key="anatomy-deposit"
        )
    )
    round_trip = _round_trip()

    wrapper = connections["default"]
    spans = _Spans()
    original_commit = getattr(wrapper, "_commit")  # noqa: B009 - private, and untyped in the stubs

    def split_commit() -> None:
        # Fire the deferred constraint triggers and foreign-key checks first, to time them apart
        # from COMMIT itself (WAL flush). They run in the same transaction either way; this
        # adds one round trip to the measured posting.
        began = time.perf_counter()
        wrapper.connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
        middle = time.perf_counter()
        original_commit()
        spans.sql.append(("deferred checks (SET CONSTRAINTS ALL IMMEDIATE)", began, middle))
        spans.sql.append(("COMMIT (WAL flush)", middle, time.perf_counter()))

    # Instrument this process only; the code under test is unchanged.
    patches: list[tuple[object, str, object]] = [
        (locks, "lock_ledger_accounts", spans.wrap("lock", locks.lock_ledger_accounts)),
        (services, "post_locked", spans.wrap("post_locked", services.post_locked)),
        (wrapper, "_commit", spans.wrap("commit", split_commit)),
    ]
    saved = [(target, name, target.__dict__.get(name)) for target, name, _ in patches]
    steps: dict[str, list[float]] = defaultdict(list)
    sql_in: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    for target, name, replacement in patches:
        setattr(target, name, replacement)
    try:
        with wrapper.execute_wrapper(spans.execute):
            for n in range(postings):
                spans.clear()
                began = time.perf_counter()
                post(f"anatomy-{n}")
                ended = time.perf_counter()
                totals.append(ended - began)
                for name, start, end in spans.steps:
                    steps[name].append(end - start)
                    sql_in[name].append(spans.sql_within(start, end))
                covered = sum(end - start for _, start, end in spans.steps)
                steps["rest"].append(ended - began - covered)
                sql_in["rest"].append(0.0)
                for name, start, end in spans.sql:
                    statements[name].append(end - start)
    finally:
        for target, name, original in saved:
            if original is None:
                delattr(target, name)
            else:
                setattr(target, name, original)
    return Anatomy(
        queries=queries,
        deposit_queries=deposit_queries,
        steps=[
            Step(
                STEP_NAMES.get(name, "the rest: normalize_legs, fingerprint, atomic(), context"),
                statistics.median(values) * 1000,
                statistics.median(sql_in[name]) * 1000,
            )
            for name, values in steps.items()
        ],
        statements={name: statistics.median(values) * 1000 for name, values in statements.items()},
        total_ms=statistics.median(totals) * 1000,
        total_p99_ms=percentile(totals, 99) * 1000,
        round_trip_ms=round_trip,
        postings=postings,
    )


@dataclass
class CallTiming:
    """One operation timed statement by statement over many calls (medians per call)."""

    title: str
    count: int
    #: the labels of one call's statements, in order (BEGIN and COMMIT are not statements here)
    queries: list[str]
    total_ms: float
    total_p99_ms: float
    #: label -> (statements per call, median ms per call of all of them); COMMITs included
    statements: dict[str, tuple[float, float]]

    @property
    def sql_ms(self) -> float:
        return sum(ms for _, ms in self.statements.values())


def time_calls(title: str, call: Callable[[int], object], count: int, *, first: int = 0) -> CallTiming:
    """Capture the queries of ``call(first)``, then time ``call(first + 1 .. first + count)``
    statement by statement: client wall time of every statement and of every COMMIT."""
    from django.db import connections

    queries = [label(sql) for sql in capture(lambda: call(first))]
    wrapper = connections["default"]
    spans = _Spans()
    original_commit = getattr(wrapper, "_commit")  # noqa: B009 - private, and untyped in the stubs

    def timed_commit() -> None:
        began = time.perf_counter()
        try:
            original_commit()
        finally:
            spans.sql.append(("COMMIT (deferred checks, WAL flush)", began, time.perf_counter()))

    totals: list[float] = []
    per_call: dict[str, list[float]] = defaultdict(list)
    occurrences: dict[str, int] = defaultdict(int)
    setattr(wrapper, "_commit", timed_commit)  # noqa: B010 - this process only; restored below
    try:
        with wrapper.execute_wrapper(spans.execute):
            for n in range(first + 1, first + 1 + count):
                spans.clear()
                began = time.perf_counter()
                call(n)
                totals.append(time.perf_counter() - began)
                summed: dict[str, float] = defaultdict(float)
                for name, start, end in spans.sql:
                    summed[name] += end - start
                    occurrences[name] += 1
                for name in set(per_call) | set(summed):
                    per_call[name].append(summed.get(name, 0.0))
    finally:
        delattr(wrapper, "_commit")
    statements = {
        name: (occurrences[name] / count, statistics.median(values + [0.0] * (count - len(values))) * 1000)
        for name, values in per_call.items()
    }
    return CallTiming(
        title=title,
        count=count,
        queries=queries,
        total_ms=statistics.median(totals) * 1000,
        total_p99_ms=percentile(totals, 99) * 1000,
        statements=dict(sorted(statements.items(), key=lambda item: -item[1][1])),
    )


def print_call_timing(timing: CallTiming) -> None:
    print()
    print(f"{timing.title}: {len(timing.queries)} statements, plus BEGIN and COMMIT per transaction")
    for n, name in enumerate(timing.queries, 1):
        print(f"  {n:>2}. {name}")
    print(
        f"  timed over {timing.count} calls: p50 {timing.total_ms:.2f} ms, p99 {timing.total_p99_ms:.2f} ms; "
        f"medians per call by statement (client wall time):"
    )
    for name, (per, value) in timing.statements.items():
        print(f"    {name[:70]:<70} x{per:>4.1f} {value:>8.3f} ms")
    print(
        f"    {'sum of the statements (round trips and server work)':<70}       {timing.sql_ms:>8.3f} ms"
        f"\n    {'the rest: Python (our code, Django ORM, psycopg adaptation)':<70}       "
        f"{timing.total_ms - timing.sql_ms:>8.3f} ms"
    )


def print_anatomy(anatomy: Anatomy) -> None:
    print()
    print(f"One transfer through journal_transaction_post: {len(anatomy.queries)} queries, plus BEGIN and COMMIT")
    print("  (psycopg sends BEGIN just before the first statement: its round trip counts in that statement's time)")
    for n, sql in enumerate(anatomy.queries, 1):
        print(f"  {n}. {label(sql)}")
    print(f"One cash_deposit: {len(anatomy.deposit_queries)} queries, plus BEGIN and COMMIT")
    for n, sql in enumerate(anatomy.deposit_queries, 1):
        print(f"  {n}. {label(sql)}")
    print()
    print(f"{'Time of one transfer, 1 worker, no contention (medians)':<64} {'wall ms':>8} {'in SQL':>8} {'Python':>8}")
    for step in anatomy.steps:
        print(f"  {step.name:<62} {step.wall_ms:>8.3f} {step.sql_ms:>8.3f} {step.python_ms:>8.3f}")
    in_sql = sum(step.sql_ms for step in anatomy.steps)
    python = sum(step.python_ms for step in anatomy.steps)
    print(f"  {'sum of medians':<62} {in_sql + python:>8.3f} {in_sql:>8.3f} {python:>8.3f}")
    print(f"  {'measured total (p50 / p99)':<62} {anatomy.total_ms:>8.3f} {anatomy.total_p99_ms:>8.3f}")
    print()
    print(f"{'Statements (client wall time, p50)':<64} {'ms':>8}")
    print(f"  {'baseline: SELECT 1 round trip':<62} {anatomy.round_trip_ms:>8.3f}")
    for name, value in anatomy.statements.items():
        print(f"  {name[:62]:<62} {value:>8.3f}")


def _group(filename: str, name: str) -> str:
    """The package a profiled function belongs to: our code, Django's ORM, the rest of Django,
    psycopg (which includes waiting for the server), Celery/kombu, the standard library."""
    if "psycopg" in filename or "psycopg" in name:
        return "psycopg (includes waiting for the server)"
    if "/django/db/" in filename:
        return "Django ORM (django/db)"
    if "/django/" in filename:
        return "Django, other"
    if "/celery/" in filename or "/kombu/" in filename or "/amqp/" in filename:
        return "Celery / kombu (publishing the relay task)"
    if f"{BASE_DIR}/apps/" in filename or f"{BASE_DIR}/plugins/" in filename:
        return "our code (apps/, plugins/)"
    if "/bench/" in filename:
        return "bench harness"
    if filename == "~":
        return f"built-in: {name}" if any(w in name for w in ("poll", "select", "wait")) else "other built-ins"
    return "Python stdlib / other"


def _module(filename: str) -> str | None:
    """``apps/orders/placement.py`` for our own files, else None."""
    prefix = f"{BASE_DIR}/"
    if filename.startswith(prefix) and filename[len(prefix) :].startswith(("apps/", "plugins/")):
        return filename[len(prefix) :]
    return None


def profile_calls(
    title: str, call: Callable[[int], object], count: int, *, steps: tuple[str, ...] = (), top: int = 15
) -> None:
    """cProfile ``count`` calls of ``call(n)`` in this process; print self time per call by
    package, our modules, the top functions, and the cumulative time of the named ``steps``."""
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for n in range(count):
        call(n)
    profiler.disable()
    wall = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    modules: dict[str, float] = defaultdict(float)
    for (filename, _, name), (_, _, tottime, _, _) in raw.items():
        groups[_group(filename, name)] += tottime
        module = _module(filename)
        if module is not None:
            modules[module] += tottime
    print()
    print(f"cProfile of {count} {title} in one process: {wall / count * 1000:.3f} ms each under the profiler")
    print(f"{'  self time by package':<58} {'ms each':>10}")
    for name, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"    {name:<54} {seconds / count * 1000:>10.3f}")
    print("  of which our modules:")
    for name, seconds in sorted(modules.items(), key=lambda item: -item[1])[:8]:
        print(f"    {name:<54} {seconds / count * 1000:>10.3f}")
    print(f"{'  top functions by self time':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}  (per call)")
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in ranked:
        where = f"{_short(filename)}:{line} {name}" if filename != "~" else name
        _row(where, calls / count, tottime / count, cumtime / count)
    if steps:
        print(f"{'  cumulative time of the steps':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}")
        chosen = [
            (key, value)
            for key, value in raw.items()
            if key[2] in steps and _module(key[0]) is not None and value[1] >= count
        ]
        for (filename, line, name), (_, calls, tottime, cumtime, _) in sorted(chosen, key=lambda item: -item[1][3]):
            _row(f"{_short(filename)}:{line} {name}", calls / count, tottime / count, cumtime / count)


def profile(*, actor_id: int, pool: list[int], postings: int) -> None:
    """cProfile ``postings`` transfers in this process."""
    post = _poster(actor_id, pool)
    for n in range(50):
        post(f"profile-warmup-{n}")
    profile_calls(
        "transfers (journal_transaction_post)",
        lambda n: post(f"profile-{n}"),
        postings,
        steps=("journal_transaction_post", "attempt", "lock_ledger_accounts", "post_locked", "_check", "fingerprint"),
    )


def _row(where: str, calls: float, self_seconds: float, cumulative_seconds: float) -> None:
    print(f"    {where[:78]:<78} {calls:>6.1f} {self_seconds * 1000:>8.3f} {cumulative_seconds * 1000:>8.3f}")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", f"{BASE_DIR}/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
