"""Scheduled ledger jobs."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.ledger.sequencing import sequence_assign
from apps.ledger.verification import verify

logger = logging.getLogger(__name__)


@shared_task(name="ledger.verify", acks_late=True, time_limit=3600, soft_time_limit=3500)
def verify_ledger_task() -> dict[str, object]:
    """Nightly: recompute the ledger; log an error (compliance alert) on any mismatch."""
    report = verify()
    if not report.ok:
        logger.error("ledger verification failed: %s", "; ".join(report.problems[:20]))
    return {"ok": report.ok, "problems": len(report.problems), "accounts": report.accounts_checked}


@shared_task(name="ledger.sequence", acks_late=True, time_limit=300, soft_time_limit=280, ignore_result=True)
def sequence_task() -> int:
    """Number the transactions committed since the last run (one sequencer at a time)."""
    return sequence_assign()
