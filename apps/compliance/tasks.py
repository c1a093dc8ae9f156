"""Scheduled compliance jobs."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.compliance.reconciliation import reconciliation_run
from apps.compliance.verification import audit_verify_and_alert


@shared_task(name="compliance.verify_audit", acks_late=True, time_limit=3600, soft_time_limit=3500)
def verify_audit_task() -> dict[str, Any]:
    """Nightly: recompute the order events' hash chain; a compliance alert if it is broken."""
    return audit_verify_and_alert()


@shared_task(name="compliance.reconcile", acks_late=True, time_limit=3600, soft_time_limit=3500)
def reconcile_task() -> dict[str, Any]:
    """Nightly: positions against the ledger, orders against their fills, and every enabled
    broker's positions and open orders against ours; a reconciliation break for each new
    difference and one alert per broker with new breaks (a redelivered run records no break twice:
    an open break for the same thing is not recorded again)."""
    return reconciliation_run().as_dict()
