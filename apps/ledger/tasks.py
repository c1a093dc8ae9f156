"""Scheduled ledger jobs."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.ledger.sequencing import sequence_assign


@shared_task(name="ledger.verify", acks_late=True, time_limit=3600, soft_time_limit=3500)
def verify_ledger_task() -> dict[str, Any]:
    """Nightly: recompute the ledger and its hash chain; a compliance alert on any mismatch."""
    from apps.compliance.verification import ledger_verify_and_alert

    return ledger_verify_and_alert()


@shared_task(name="ledger.sequence", acks_late=True, time_limit=300, soft_time_limit=280, ignore_result=True)
def sequence_task() -> int:
    """Number and chain the transactions committed since the last run (one sequencer at a time)."""
    return sequence_assign()
