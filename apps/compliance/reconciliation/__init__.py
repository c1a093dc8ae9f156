"""Reconciliation: the records that must agree, checked against each other and against the brokers.

- ``books``: positions against the ledger, orders' filled quantity against their fills;
- ``brokers``: each enabled broker's positions and open orders against ours;
- ``run``: :func:`reconciliation_run`, the one service the nightly task (``compliance.reconcile``),
  ``manage.py reconcile`` and the admin's "Reconcile now" button call.

Each difference becomes a ``ReconciliationBreak`` (kind, account, summary, both sides in its
details) unless a break for the same thing (same kind and ``details["key"]``) is already
recorded and not yet reviewed: a difference that persists is recorded once, until a supervisor
reviews it; if it is still there at the next run after the review, it is recorded again.

Reads only (through SQL and the brokers' selectors, a constant number of queries per broker);
writes only breaks and alerts. One run at a time (a transaction-level advisory lock), in one
transaction; the brokers are asked before it opens.
"""

from apps.compliance.reconciliation.common import (
    BROKER_KINDS,
    BROKER_ORDER_NOT_OPEN_HERE,
    BROKER_UNAVAILABLE,
    ORDER_FILLS,
    ORDER_NOT_OPEN_AT_BROKER,
    ORDER_VS_BROKER,
    POSITION_VS_BROKER,
    POSITION_VS_LEDGER,
    Difference,
)
from apps.compliance.reconciliation.run import (
    RECONCILIATION_LOCK,
    ReconciliationResult,
    ReconciliationRunning,
    reconciliation_run,
)

__all__ = [
    "BROKER_KINDS",
    "BROKER_ORDER_NOT_OPEN_HERE",
    "BROKER_UNAVAILABLE",
    "ORDER_FILLS",
    "ORDER_NOT_OPEN_AT_BROKER",
    "ORDER_VS_BROKER",
    "POSITION_VS_BROKER",
    "POSITION_VS_LEDGER",
    "RECONCILIATION_LOCK",
    "Difference",
    "ReconciliationResult",
    "ReconciliationRunning",
    "reconciliation_run",
]
