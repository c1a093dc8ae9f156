"""Where the time of one posting goes: its queries, their client-side timings, and a profile.

Runs in the parent process, one posting at a time (no contention), on the service path.
"""

from __future__ import annotations

import cProfile
import pstats
import random
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

LABELS = [
    ('FROM "ledger_journaltransaction"', "SELECT transaction by idempotency key"),
    ("FOR NO KEY UPDATE", "lock: SELECT accounts FOR NO KEY UPDATE"),
    ('INSERT INTO "ledger_journaltransaction"', "INSERT transaction (sequence trigger)"),
    ('INSERT INTO "ledger_journalentry"', "INSERT entries (bulk)"),
    ("UPDATE ledger_ledgeraccount", "UPDATE stored balances"),
    ('FROM "ledger_asset"', "asset_get"),
    ('FROM "ledger_ledgeraccount"', "ledger_account_get_or_create"),
]


def label(sql: str) -> str:
    for needle, name in LABELS:
        if needle in sql:
            return name
    return sql[:60]


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
    lock_held_ms: float
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


def _capture(call: Callable[[], object]) -> list[str]:
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
    "find_replay": "posting.find_replay (SELECT by idempotency key)",
    "lock": "locks.lock_ledger_accounts (SELECT ... FOR NO KEY UPDATE)",
    "create": "JournalTransaction.objects.create",
    "bulk_create": "JournalEntry.objects.bulk_create",
    "store": "posting._store_balances (UPDATE ... FROM VALUES)",
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
    from apps.ledger import locks, posting, services
    from apps.ledger.models import JournalEntry, JournalTransaction
    from apps.ledger.services import cash_deposit
    from apps.users.models import User

    post = _poster(actor_id, pool)
    for n in range(50):
        post(f"anatomy-warmup-{n}")
    queries = _capture(lambda: post("anatomy-capture"))
    actor = User.objects.get(pk=actor_id)
    account = TradingAccount.objects.get(pk=trading_account_id)
    deposit_queries = _capture(
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
        (services, "find_replay", spans.wrap("find_replay", services.find_replay)),
        (locks, "lock_ledger_accounts", spans.wrap("lock", locks.lock_ledger_accounts)),
        (JournalTransaction.objects, "create", spans.wrap("create", JournalTransaction.objects.create)),
        (JournalEntry.objects, "bulk_create", spans.wrap("bulk_create", JournalEntry.objects.bulk_create)),
        (posting, "_store_balances", spans.wrap("store", posting._store_balances)),
        (wrapper, "_commit", spans.wrap("commit", split_commit)),
    ]
    saved = [(target, name, target.__dict__.get(name)) for target, name, _ in patches]
    steps: dict[str, list[float]] = defaultdict(list)
    sql_in: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    held: list[float] = []
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
                insert = next(start for name, start, _ in spans.sql if name.startswith("INSERT transaction"))
                held.append(spans.sql[-1][2] - insert)
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
                STEP_NAMES.get(name, "the rest: normalize_legs, fingerprint, checks, atomic(), context"),
                statistics.median(values) * 1000,
                statistics.median(sql_in[name]) * 1000,
            )
            for name, values in steps.items()
        ],
        statements={name: statistics.median(values) * 1000 for name, values in statements.items()},
        total_ms=statistics.median(totals) * 1000,
        total_p99_ms=percentile(totals, 99) * 1000,
        round_trip_ms=round_trip,
        lock_held_ms=statistics.median(held) * 1000,
        postings=postings,
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
        print(f"  {name:<62} {value:>8.3f}")
    held = anatomy.lock_held_ms
    print(f"  The gap-free sequence row is held from INSERT transaction to the end of COMMIT: {held:.2f} ms (p50);")
    print(f"  every posting takes it, so at most ~{1000 / held:,.0f} postings/s at any concurrency.")


def _group(filename: str, name: str) -> str:
    if "psycopg" in filename or "psycopg" in name:
        return "psycopg (includes waiting for the server)"
    if "/django/" in filename:
        return "Django"
    if "/apps/" in filename:
        return "apps (project code)"
    if "/bench/" in filename:
        return "bench harness"
    if filename == "~":
        return f"built-in: {name}" if any(w in name for w in ("poll", "select", "wait")) else "other built-ins"
    return "Python stdlib / other"


def profile(*, actor_id: int, pool: list[int], postings: int, top: int = 25) -> None:
    """cProfile ``postings`` transfers in this process; print self time per posting."""
    post = _poster(actor_id, pool)
    for n in range(50):
        post(f"profile-warmup-{n}")
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for n in range(postings):
        post(f"profile-{n}")
    profiler.disable()
    wall = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    for (filename, _, name), (_, _, tottime, _, _) in raw.items():
        groups[_group(filename, name)] += tottime
    print()
    per = wall / postings * 1000
    print(f"cProfile of {postings} transfers in one process: {per:.3f} ms per posting under the profiler")
    print(f"{'self time by package':<58} {'ms/posting':>10}")
    for name, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {name:<56} {seconds / postings * 1000:>10.3f}")
    print()
    print(f"{'top functions by self time':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}  (per posting)")
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in ranked:
        where = f"{_short(filename)}:{line} {name}" if filename != "~" else name
        _row(where, calls / postings, tottime / postings, cumtime / postings)
    print()
    print(f"{'cumulative time of the service steps':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}")
    wanted = (
        "journal_transaction_post",
        "attempt",
        "find_replay",
        "lock_ledger_accounts",
        "post_locked",
        "_store_balances",
        "normalize_legs",
        "fingerprint",
        "bulk_create",
        "create",
        "__exit__",
        "commit",
    )
    steps = [
        (key, value)
        for key, value in raw.items()
        if key[2] in wanted
        and ("/apps/" in key[0] or key[2] in {"bulk_create", "create", "__exit__", "commit"})
        and value[1] >= postings
    ]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in sorted(steps, key=lambda item: -item[1][3])[:14]:
        where = f"{_short(filename)}:{line} {name}"
        _row(where, calls / postings, tottime / postings, cumtime / postings)


def _row(where: str, calls: float, self_seconds: float, cumulative_seconds: float) -> None:
    print(f"  {where[:80]:<80} {calls:>6.1f} {self_seconds * 1000:>8.3f} {cumulative_seconds * 1000:>8.3f}")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", f"{BASE_DIR}/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
