"""The sequencer: numbers committed journal transactions 1, 2, 3, ... with no gap.

Each posting queues its transaction in ``ledger_unsequenced`` (same statement, same commit).
The sequencer — one at a time, by a transaction-level advisory lock — takes what is queued
in transaction-id order, gives each the next number after the highest so far, and records it
in the append-only ``ledger_journalsequence``. A rolled-back posting never queued anything,
so no number is ever skipped; and no posting waits on a counter row, so unrelated accounts
post in parallel. Celery beat runs it every few seconds; ``verify_ledger`` runs it first.
"""

from __future__ import annotations

from django.db import connection, transaction

SEQUENCER_LOCK = 7_340_001  # pg_advisory_xact_lock key of the one sequencer

_ASSIGN = """
WITH batch AS (
    DELETE FROM ledger_unsequenced
     WHERE transaction_id IN (SELECT transaction_id FROM ledger_unsequenced ORDER BY transaction_id LIMIT %(limit)s)
    RETURNING transaction_id
), numbered AS (
    SELECT transaction_id,
           (SELECT coalesce(max(sequence), 0) FROM ledger_journalsequence)
             + row_number() OVER (ORDER BY transaction_id) AS sequence
      FROM batch
)
INSERT INTO ledger_journalsequence (sequence, transaction_id, assigned_at)
SELECT sequence, transaction_id, clock_timestamp() FROM numbered
"""


def sequence_assign(*, limit: int = 10_000) -> int:
    """Number up to ``limit`` committed transactions per round until none is waiting; returns
    how many were numbered."""
    total = 0
    while True:
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
            cursor.execute(_ASSIGN, {"limit": limit})
            numbered = cursor.rowcount
        total += numbered
        if numbered < limit:
            return total
