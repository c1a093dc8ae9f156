"""The sequencer: numbers committed journal transactions 1, 2, 3, ... with no gap, and chains them.

Each posting queues its transaction in ``ledger_unsequenced`` (same statement, same commit).
The sequencer — one at a time, by a transaction-level advisory lock — takes what is queued
in transaction-id order, gives each the next number after the highest so far, hashes its
content as stored and links it to the previous number's hash (``apps.ledger.chain``), and
records all three in one INSERT into the append-only ``ledger_journalsequence``. A rolled-back
posting never queued anything, so no number is ever skipped; and no posting waits on a counter
row or on the chain, so unrelated accounts post in parallel. Celery beat runs it every few
seconds; ``verify_ledger`` runs it first.
"""

from __future__ import annotations

from apps.core.chain import chain_extend
from apps.ledger.chain import LEDGER_CHAIN, SEQUENCER_LOCK

__all__ = ["SEQUENCER_LOCK", "sequence_assign"]


def sequence_assign(*, limit: int = 10_000) -> int:
    """Number and chain up to ``limit`` committed transactions per round until none is waiting;
    returns how many were numbered."""
    return chain_extend(LEDGER_CHAIN, limit=limit)
