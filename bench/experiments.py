"""What-if measurements for the posting hot path: ``python -m bench.experiments`` (not part of ``make bench``).

MEASUREMENT ONLY. Nothing here is used by the application. Each variant posts the same
two-leg transfers as ``make bench``, on the bench database, with the same guarantees:
idempotency key (unique, replay on conflict), row locks in primary-key order, overdraft
check, scale and balance checks, the gap-free sequence trigger, the deferred triggers and
foreign keys, a durable commit. What changes is how many round trips and how much ORM
work it takes:

* ``service``             the real ``journal_transaction_post`` (the baseline)
* ``service-prepared``    the same, with psycopg server-side binding (prepared statements):
                          a settings-only change (DATABASES OPTIONS ``server_side_binding``)
* ``service-no-precheck`` the same, without the ``find_replay`` SELECT (a replay is still
                          answered, from the unique-key violation; see docs/performance.md
                          for the case of a concurrent twin that would be refused instead)
* ``sql-3``               raw SQL: BEGIN, lock SELECT, one statement writing transaction,
                          entries and balances (data-modifying CTEs), COMMIT; checks in Python
* ``plpgsql-1``           one call of a PL/pgSQL function (created in the bench database
                          only) that locks, checks and writes; in autocommit, one round trip

``--schema`` then repeats the chosen variants after each step of SCHEMA_STEPS (DDL on the
bench database only), to attribute server time: redundant indexes, the deferred per-row
checks, and the gap-free sequence counter that every posting updates.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bench import database
from bench.report import WriteFigure
from bench.workers import AMOUNT, Spec

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext

    from bench.fixtures import Fixtures

LOCK_SQL = """
SELECT a.id, a.asset_id, a.balance, a.version, a.allow_negative, s.scale
  FROM ledger_ledgeraccount a JOIN ledger_asset s ON s.id = a.asset_id
 WHERE a.id = ANY(%s) ORDER BY a.id FOR NO KEY UPDATE OF a
"""

WRITE_SQL = """
WITH legs (account_id, asset_id, amount, version, balance_after) AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::bigint[], %s::numeric[])
), txn AS (
    INSERT INTO ledger_journaltransaction
        (kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at)
    VALUES (%s, %s, %s, '', '', %s, %s, %s)
    RETURNING id
), entries AS (
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT txn.id, legs.account_id, legs.asset_id, legs.amount, legs.version, legs.balance_after, %s
      FROM txn, legs
), balances AS (
    UPDATE ledger_ledgeraccount a SET balance = legs.balance_after, version = legs.version
      FROM legs WHERE a.id = legs.account_id
)
SELECT id FROM txn
"""

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION bench_ledger_post(
    p_kind text, p_key text, p_fingerprint text, p_actor bigint, p_correlation text,
    p_accounts bigint[], p_amounts numeric[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_txn bigint;
    v_now timestamptz := clock_timestamp();
    v_found int;
    v_bad record;
BEGIN
    PERFORM 1 FROM ledger_ledgeraccount WHERE id = ANY(p_accounts) ORDER BY id FOR NO KEY UPDATE;
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found <> cardinality(p_accounts) THEN
        RAISE EXCEPTION 'unknown ledger account' USING ERRCODE = 'P0002';
    END IF;
    IF EXISTS (
        SELECT 1 FROM unnest(p_accounts, p_amounts) AS l(id, amount)
          JOIN ledger_ledgeraccount a ON a.id = l.id JOIN ledger_asset s ON s.id = a.asset_id
         WHERE l.amount <> round(l.amount, s.scale)
    ) THEN
        RAISE EXCEPTION 'amount has more decimal places than its asset' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (
        SELECT 1 FROM unnest(p_accounts, p_amounts) AS l(id, amount) JOIN ledger_ledgeraccount a ON a.id = l.id
         GROUP BY a.asset_id HAVING sum(l.amount) <> 0
    ) THEN
        RAISE EXCEPTION 'legs do not sum to zero per asset' USING ERRCODE = '23514';
    END IF;
    SELECT a.id, a.balance, l.amount INTO v_bad
      FROM unnest(p_accounts, p_amounts) AS l(id, amount) JOIN ledger_ledgeraccount a ON a.id = l.id
     WHERE NOT a.allow_negative AND a.balance + l.amount < 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insufficient funds on ledger account %', v_bad.id USING ERRCODE = 'P0001',
            DETAIL = format('{"available": "%s", "requested": "%s"}', v_bad.balance, -v_bad.amount);
    END IF;
    INSERT INTO ledger_journaltransaction
        (kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at)
    VALUES (p_kind, p_key, p_fingerprint, '', '', p_actor, p_correlation, v_now)
    RETURNING id INTO v_txn;
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT v_txn, a.id, a.asset_id, l.amount, a.version + 1, a.balance + l.amount, v_now
      FROM unnest(p_accounts, p_amounts) AS l(id, amount) JOIN ledger_ledgeraccount a ON a.id = l.id;
    UPDATE ledger_ledgeraccount a SET balance = a.balance + l.amount, version = a.version + 1
      FROM unnest(p_accounts, p_amounts) AS l(id, amount) WHERE a.id = l.id;
    RETURN v_txn;
END $$
"""


def _pairs(spec: Spec) -> Callable[[], list[tuple[int, Decimal]]]:
    rng = random.Random(spec.index)
    pool = list(spec.ids)

    def legs() -> list[tuple[int, Decimal]]:
        source, target = rng.sample(pool, 2)
        return [(source, -AMOUNT), (target, AMOUNT)]

    return legs


def _actor(spec: Spec) -> Any:
    from apps.users.models import User

    return User.objects.get(pk=spec.actor_id)


def service(spec: Spec) -> Callable[[str], object]:
    from apps.ledger.services import journal_transaction_post

    actor, legs = _actor(spec), _pairs(spec)
    return lambda key: journal_transaction_post(actor=actor, kind="transfer", legs=legs(), idempotency_key=key)


def service_prepared(spec: Spec) -> Callable[[str], object]:
    from django.db import connection

    connection.close()
    connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "server_side_binding": True}
    return service(spec)


def service_no_precheck(spec: Spec) -> Callable[[str], object]:
    from apps.ledger import services

    services.find_replay = lambda key, fp: None  # type: ignore[assignment]  # bench never replays
    return service(spec)


def _replay_or_raise(exc: Exception, key: str) -> object:
    from django.db import IntegrityError

    from apps.ledger.models import JournalTransaction
    from apps.ledger.posting import is_idempotency_violation

    if not (isinstance(exc, IntegrityError) and is_idempotency_violation(exc)):
        raise exc
    return JournalTransaction.objects.get(idempotency_key=key)


def sql_three(spec: Spec) -> Callable[[str], object]:
    from django.db import IntegrityError, connection
    from django.utils import timezone

    from apps.core import context
    from apps.core.db import atomic_with_retry
    from apps.ledger import errors
    from apps.ledger.legs import check_idempotency_key, fingerprint, normalize_legs

    actor, legs = _actor(spec), _pairs(spec)

    def post(key: str) -> object:
        normalized = normalize_legs(legs())
        check_idempotency_key(key)
        fp = fingerprint("transfer", normalized)

        @atomic_with_retry()
        def attempt() -> int:
            with connection.cursor() as cursor:
                cursor.execute(LOCK_SQL, [sorted(leg.account_id for leg in normalized)])
                rows = {row[0]: row for row in cursor.fetchall()}
                totals: dict[int, Decimal] = {}
                ids, assets, amounts, versions, balances = [], [], [], [], []
                for leg in normalized:
                    if leg.account_id not in rows:
                        raise errors.UnknownLedgerAccount(f"Unknown ledger account {leg.account_id}.")
                    _, asset_id, balance, version, allow_negative, scale = rows[leg.account_id]
                    if leg.amount != leg.amount.quantize(Decimal(1).scaleb(-scale)):
                        raise errors.InvalidAmount("too many decimal places")
                    totals[asset_id] = totals.get(asset_id, Decimal(0)) + leg.amount
                    if not allow_negative and balance + leg.amount < 0:
                        raise errors.InsufficientFunds(f"Ledger account {leg.account_id} holds {balance:f}.")
                    ids.append(leg.account_id)
                    assets.append(asset_id)
                    amounts.append(leg.amount)
                    versions.append(version + 1)
                    balances.append(balance + leg.amount)
                if any(totals.values()):
                    raise errors.Unbalanced("The legs do not sum to zero per asset.")
                now = timezone.now()
                cursor.execute(
                    WRITE_SQL,
                    [
                        ids,
                        assets,
                        amounts,
                        versions,
                        balances,
                        "transfer",
                        key,
                        fp,
                        actor.pk,
                        context.current().correlation_id,
                        now,
                        now,
                    ],
                )
                (txn_id,) = cursor.fetchone()
                return int(txn_id)

        try:
            return attempt()
        except IntegrityError as exc:
            return _replay_or_raise(exc, key)

    return post


def plpgsql_one(spec: Spec) -> Callable[[str], object]:
    from django.db import IntegrityError, OperationalError, connection

    from apps.core import context
    from apps.core.db import is_retryable
    from apps.ledger.legs import check_idempotency_key, fingerprint, normalize_legs

    actor, legs = _actor(spec), _pairs(spec)

    def post(key: str) -> object:
        normalized = normalize_legs(legs())
        check_idempotency_key(key)
        fp = fingerprint("transfer", normalized)
        for attempt in range(5):
            try:
                with connection.cursor() as cursor:  # autocommit: the call is its own transaction
                    cursor.execute(
                        "SELECT bench_ledger_post(%s, %s, %s, %s, %s, %s, %s)",
                        [
                            "transfer",
                            key,
                            fp,
                            actor.pk,
                            context.current().correlation_id,
                            [leg.account_id for leg in normalized],
                            [leg.amount for leg in normalized],
                        ],
                    )
                    return cursor.fetchone()[0]
            except IntegrityError as exc:
                return _replay_or_raise(exc, key)
            except OperationalError as exc:
                if not is_retryable(exc) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    return post


SCHEMA_STEPS: list[tuple[str, list[str]]] = [
    ("schema as migrated", []),
    (
        "minus 3 redundant entry indexes",
        [
            "DROP INDEX ledger_journalentry_transaction_id_5a54c3dc",  # duplicate of ledger_entry_transaction
            "DROP INDEX ledger_journalentry_ledger_account_id_3730af14",  # prefix of two composite indexes
            "DROP INDEX ledger_journalentry_asset_id_3929b95c",  # assets are never deleted
        ],
    ),
    (
        "and minus the 2 deferred per-row checks",
        [
            "ALTER TABLE ledger_journalentry DISABLE TRIGGER pgtrigger_transaction_balanced_per_asset_a8613",
            "ALTER TABLE ledger_journaltransaction DISABLE TRIGGER pgtrigger_transaction_has_entries_1d961",
        ],
    ),
    (
        "and minus the gap-free sequence counter",
        [
            "ALTER TABLE ledger_journaltransaction DISABLE TRIGGER pgtrigger_assign_gap_free_sequence_328b7",
            "ALTER TABLE ledger_journaltransaction DROP CONSTRAINT ledger_journaltransaction_sequence_key",
        ],
    ),
]

VARIANTS = {
    "service": "bench.experiments:service",
    "service-prepared": "bench.experiments:service_prepared",
    "service-no-precheck": "bench.experiments:service_no_precheck",
    "sql-3": "bench.experiments:sql_three",
    "plpgsql-1": "bench.experiments:plpgsql_one",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments", description="What-if posting variants.")
    parser.add_argument("--postings", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--schema", action="store_true", help="repeat after each step of SCHEMA_STEPS")
    args = parser.parse_args(argv)
    database.recreate_database()
    database.django_setup()
    database.migrate()
    from django.db import connection

    from bench import fixtures, history, report

    with connection.cursor() as cursor:
        cursor.execute(FUNCTION_SQL)
    fx = fixtures.create(clients=args.clients)
    history.analyze()
    print(f"What-if posting variants, {report.now_utc()}, {report.load()}")
    print("MEASUREMENT ONLY: these variants are not the application's code (see bench/experiments.py).")
    context = multiprocessing.get_context("spawn")
    figures: list[report.WriteFigure] = []
    for step, (schema, statements) in enumerate(SCHEMA_STEPS if args.schema else SCHEMA_STEPS[:1]):
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.close()
        suffix = f" [{schema}]" if args.schema else ""
        figures += _run_variants(args, fx, context, step, suffix)
    report.print_writes(figures)
    print(f"\n{report.load()}")
    if args.schema:
        print("verify() skipped: --schema disables the sequence counter on purpose.")
        return 0
    from apps.ledger.verification import verify

    problems = verify().problems
    print(f"verify() after all variants: {'consistent' if not problems else problems[:5]}")
    return 0 if not problems else 1


def _run_variants(
    args: argparse.Namespace, fx: Fixtures, context: SpawnContext, step: int, suffix: str
) -> list[WriteFigure]:
    from bench import workers

    figures: list[WriteFigure] = []
    for variant in args.variants:
        for count in args.workers:
            tag = f"{variant}-{count}-{step}"
            plan = workers.specs(
                VARIANTS[variant], workers=count, total=args.postings, actor_id=fx.actor_id, ids=tuple(fx.cash), key=tag
            )
            run = workers.run(plan, context)
            figures.append(
                WriteFigure(
                    label=f"{variant}, {count} worker{'s' if count > 1 else ''}{suffix}",
                    workers=count,
                    postings=len(run.latencies),
                    wall_seconds=run.wall_seconds,
                    latencies=run.latencies,
                    errors=run.errors,
                    retries=run.retries,
                    deadlocks=run.deadlocks,
                    client_cpu=run.client_cpu,
                    server_cpu=run.server_cpu,
                )
            )
            print(f"  {figures[-1].label}: {figures[-1].rate:.0f} tx/s", file=sys.stderr)
    return figures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
