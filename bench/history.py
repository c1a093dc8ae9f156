"""A 100,000-entry history on one ledger account, built fast but consistently.

Posting 100,000 transactions to ONE account through the service is a hot spot (they
serialize on that account's row lock), which would take minutes. So the setup writes
balanced two-entry deposits in SQL, a chunk per database transaction, exactly as
``apps.ledger.posting.post_locked`` would: under the accounts' row locks, each entry with
the account's next version and running balance, every transaction queued in
``ledger_unsequenced`` for the sequencer, the stored balances and versions updated. The
deferred triggers and foreign keys check every chunk at commit. Then the sequencer
(``apps.ledger.sequencing.sequence_assign``) numbers the 100,000 transactions, timed, and
``apps.ledger.verification.verify()`` recomputes the whole ledger: the reads run on a
ledger that is provably consistent, with every transaction numbered without a gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

CHUNK = 2_000  # per database transaction: the deferred checks of one transaction grow faster than linearly
AMOUNT = Decimal("1.00")
KIND = "deposit"
STEP_MS = 1  # posted_at advances 1 ms per transaction, ending just before the build started

INSERT = """
WITH txn AS (
    INSERT INTO ledger_journaltransaction
        (kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at)
    SELECT %(kind)s, %(prefix)s || g, %(fingerprint)s, '', 'bench history', %(actor)s, '',
           %(base)s::timestamptz + g * interval '1 millisecond'
      FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS g
    RETURNING id, idempotency_key, posted_at
), numbered AS (
    SELECT id, posted_at, substr(idempotency_key, length(%(prefix)s) + 1)::bigint - %(low)s + 1 AS k FROM txn
), entries AS (
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT n.id, leg.account_id, %(asset)s, leg.amount, leg.version + n.k, leg.balance + leg.amount * n.k,
           n.posted_at
      FROM numbered AS n
     CROSS JOIN (VALUES (%(a_id)s::bigint, %(a_amount)s::numeric, %(a_version)s::bigint, %(a_balance)s::numeric),
                        (%(b_id)s::bigint, %(b_amount)s::numeric, %(b_version)s::bigint, %(b_balance)s::numeric))
           AS leg(account_id, amount, version, balance)
)
INSERT INTO ledger_unsequenced (transaction_id) SELECT id FROM txn
"""


def analyze() -> None:
    """Refresh the planner's statistics of the ledger tables, as autovacuum would in steady state.

    Without it, a freshly created ledger that grows fast keeps the plans chosen for tiny tables,
    and the per-row checks of the deferred triggers can fall back to sequential scans.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "ledger_journalentry",
            "ledger_journaltransaction",
            "ledger_ledgeraccount",
            "ledger_unsequenced",
            "ledger_journalsequence",
        ):
            cursor.execute(f"ANALYZE {table}")


@dataclass(frozen=True)
class Built:
    entries: int
    seconds: float
    #: transactions the sequencer numbered after the build, and how long that took
    sequenced: int
    sequence_seconds: float
    verify_seconds: float
    problems: list[str]


def build(*, actor_id: int, account_id: int, counterparty_id: int, entries: int) -> Built:
    """Give ``account_id`` ``entries`` more entries (credits from ``counterparty_id``, a house account)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.ledger.legs import Leg, fingerprint
    from apps.ledger.locks import lock_ledger_accounts
    from apps.ledger.sequencing import sequence_assign
    from apps.ledger.verification import verify

    legs = [Leg(account_id, AMOUNT), Leg(counterparty_id, -AMOUNT)]
    digest = fingerprint(KIND, legs)
    started = time.perf_counter()
    analyze()
    base = timezone.now() - timedelta(milliseconds=entries * STEP_MS + 1000)
    low = 1
    while low <= entries:
        high = min(low + CHUNK - 1, entries)
        count = high - low + 1
        with transaction.atomic(durable=True):
            accounts = lock_ledger_accounts([account_id, counterparty_id])
            mine, theirs = accounts[account_id], accounts[counterparty_id]
            assert mine.asset_id == theirs.asset_id and theirs.allow_negative
            with connection.cursor() as cursor:
                cursor.execute(
                    INSERT,
                    {
                        "kind": KIND,
                        "prefix": f"bench-history-{account_id}-{mine.version}-",
                        "fingerprint": digest,
                        "actor": actor_id,
                        "base": base,
                        "low": low,
                        "high": high,
                        "asset": mine.asset_id,
                        "a_id": mine.pk,
                        "a_amount": AMOUNT,
                        "a_version": mine.version,
                        "a_balance": mine.balance,
                        "b_id": theirs.pk,
                        "b_amount": -AMOUNT,
                        "b_version": theirs.version,
                        "b_balance": theirs.balance,
                    },
                )
                cursor.execute(
                    "UPDATE ledger_ledgeraccount SET balance = balance + %s * %s, version = version + %s WHERE id = %s",
                    [AMOUNT, count, count, mine.pk],
                )
                cursor.execute(
                    "UPDATE ledger_ledgeraccount SET balance = balance - %s * %s, version = version + %s WHERE id = %s",
                    [AMOUNT, count, count, theirs.pk],
                )
        low = high + 1
    analyze()
    built = time.perf_counter() - started
    began = time.perf_counter()
    sequenced = sequence_assign()
    sequence_seconds = time.perf_counter() - began
    began = time.perf_counter()
    report = verify()
    return Built(entries, built, sequenced, sequence_seconds, time.perf_counter() - began, report.problems)
