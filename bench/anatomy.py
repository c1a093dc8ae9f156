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
from typing import Any

AMOUNT = Decimal("1.00")

LABELS = [
    ("FROM \"ledger_journaltransaction\"", "find_replay: SELECT by idempotency key (after BEGIN)"),
    ("FOR NO KEY UPDATE", "lock: SELECT accounts FOR NO KEY UPDATE"),
    ("INSERT INTO \"ledger_journaltransaction\"", "INSERT transaction (sequence trigger)"),
    ("INSERT INTO \"ledger_journalentry\"", "INSERT entries (bulk)"),
    ("UPDATE ledger_ledgeraccount", "UPDATE stored balances"),
    ("FROM \"ledger_asset\"", "asset_get"),
    ("FROM \"ledger_ledgeraccount\"", "ledger_account_get_or_create"),
]


def label(sql: str) -> str:
    for needle, name in LABELS:
        if needle in sql:
            return name
    return sql[:60]


@dataclass
class Part:
    name: str
    median_ms: float
    p99_ms: float


@dataclass
class Anatomy:
    queries: list[str]
    deposit_queries: list[str]
    parts: list[Part]
    total_ms: float
    lock_held_ms: float
    postings: int


def _poster(actor_id: int, pool: list[int]) -> Callable[[str], object]:
    from apps.ledger.services import journal_transaction_post
    from apps.users.models import User

    actor = User.objects.get(pk=actor_id)
    rng = random.Random(7)  # noqa: S311 - not cryptography

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
    return [query["sql"] for query in captured.captured_queries]


def measure(*, actor_id: int, pool: list[int], trading_account_id: int, postings: int) -> Anatomy:
    from django.db import connections

    from apps.accounts.models import TradingAccount
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

    wrapper = connections["default"]
    events: list[tuple[str, float, float]] = []

    def timed(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            events.append((label(sql), began, time.perf_counter()))

    original_commit = wrapper._commit

    def timed_commit() -> None:
        # Fire the deferred constraint triggers and foreign-key checks now, to time them apart
        # from the commit itself (WAL flush). They run in the same transaction either way.
        began = time.perf_counter()
        wrapper.connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
        middle = time.perf_counter()
        original_commit()
        events.append(("deferred checks (SET CONSTRAINTS ALL IMMEDIATE)", began, middle))
        events.append(("COMMIT (WAL flush)", middle, time.perf_counter()))

    parts: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    held: list[float] = []
    wrapper._commit = timed_commit  # type: ignore[method-assign]
    try:
        with wrapper.execute_wrapper(timed):
            for n in range(postings):
                events.clear()
                began = time.perf_counter()
                post(f"anatomy-{n}")
                ended = time.perf_counter()
                totals.append(ended - began)
                for name, start, end in events:
                    parts[name].append(end - start)
                insert = next(start for name, start, _ in events if name.startswith("INSERT transaction"))
                held.append(events[-1][2] - insert)
                accounted = sum(end - start for _, start, end in events)
                parts["Python (Django ORM, services, psycopg adaptation)"].append(ended - began - accounted)
    finally:
        del wrapper._commit
    from bench.report import percentile

    return Anatomy(
        queries=queries,
        deposit_queries=deposit_queries,
        parts=[
            Part(name, statistics.median(values) * 1000, percentile(values, 99) * 1000)
            for name, values in parts.items()
        ],
        total_ms=statistics.median(totals) * 1000,
        lock_held_ms=statistics.median(held) * 1000,
        postings=postings,
    )


def print_anatomy(anatomy: Anatomy) -> None:
    print()
    print(f"One transfer through journal_transaction_post: {len(anatomy.queries)} queries (+ BEGIN, COMMIT)")
    for n, sql in enumerate(anatomy.queries, 1):
        print(f"  {n}. {label(sql)}")
    print(f"One cash_deposit: {len(anatomy.deposit_queries)} queries (+ BEGIN, COMMIT)")
    print()
    print(f"{'Time of one transfer, one worker, no contention':<58} {'p50 ms':>8} {'p99 ms':>8}")
    for part in anatomy.parts:
        print(f"  {part.name:<56} {part.median_ms:>8.3f} {part.p99_ms:>8.3f}")
    print(f"  {'total (p50 of the sum, with the split commit)':<56} {anatomy.total_ms:>8.3f}")
    print(
        f"  gap-free sequence row held from INSERT transaction to end of COMMIT: {anatomy.lock_held_ms:.3f} ms "
        f"(p50): all postings serialize on it, so at most ~{1000 / anatomy.lock_held_ms:,.0f} tx/s at any concurrency"
    )


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
    print(f"cProfile of {postings} transfers in one process: {wall / postings * 1000:.3f} ms per posting under the profiler")
    print(f"{'self time by package':<58} {'ms/posting':>10}")
    for name, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {name:<56} {seconds / postings * 1000:>10.3f}")
    print()
    print(f"{'top functions by self time':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}  (per posting)")
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in ranked:
        where = f"{_short(filename)}:{line} {name}" if filename != "~" else name
        print(f"  {where[:80]:<80} {calls / postings:>6.1f} {tottime / postings * 1000:>8.3f} {cumtime / postings * 1000:>8.3f}")
    print()
    print(f"{'cumulative time of the service steps':<82} {'calls':>6} {'self ms':>8} {'cum ms':>8}")
    wanted = (
        "journal_transaction_post", "attempt", "find_replay", "lock_ledger_accounts", "post_locked",
        "_store_balances", "normalize_legs", "fingerprint", "bulk_create", "create", "__exit__", "commit",
    )
    steps = [
        (key, value) for key, value in raw.items()
        if key[2] in wanted and ("/apps/" in key[0] or key[2] in {"bulk_create", "create", "__exit__", "commit"})
        and value[1] >= postings
    ]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in sorted(steps, key=lambda item: -item[1][3])[:14]:
        where = f"{_short(filename)}:{line} {name}"
        print(f"  {where[:80]:<80} {calls / postings:>6.1f} {tottime / postings * 1000:>8.3f} {cumtime / postings * 1000:>8.3f}")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
