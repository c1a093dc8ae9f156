"""The nightly verifications: each run is recorded (``CheckRun``, passed or failed) and a failure
also raises a critical compliance alert."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from apps.compliance.models import AlertKind, CheckKind
from apps.compliance.services import check_run_errors, check_run_record, compliance_alert_raise
from apps.core.chain import ChainReport

logger = logging.getLogger(__name__)


def chain_details(report: ChainReport, problems: list[str]) -> dict[str, Any]:
    first = report.first_broken
    return {
        "chain": report.chain,
        "links_checked": report.links_checked,
        "broken_links": report.broken_links,
        "first_broken_link": (
            {"sequence": first.sequence, "record_id": first.record_id, "reason": first.reason} if first else None
        ),
        "unlinked": report.unlinked,
        "head": {"sequence": report.head_sequence, "chain_hash": report.head_hash},
        "problem_count": len(problems),
        "problems": problems[:20],
    }


def ledger_verify_and_alert(progress: Callable[[int], object] | None = None) -> dict[str, Any]:
    """Run the whole ledger verification and record the run; on failure also store a critical
    compliance alert."""
    from apps.ledger.verification import verify

    started_at = timezone.now()
    with check_run_errors(CheckKind.LEDGER_VERIFICATION, started_at):
        report = verify(progress=progress)
    details = chain_details(report.chain, report.problems)
    details |= {"accounts_checked": report.accounts_checked, "transactions_checked": report.transactions_checked}
    counts = (
        f"{report.accounts_checked} ledger accounts, {report.transactions_checked} transactions, "
        f"chain head #{report.chain.head_sequence}"
    )
    if report.ok:
        logger.info("ledger verified: chain head #%s %s", report.chain.head_sequence, report.chain.head_hash)
        summary = f"Ledger OK: {counts}"
    else:
        summary = f"Ledger verification failed: {report.problems[0]}"
        alert = compliance_alert_raise(
            kind=AlertKind.LEDGER_VERIFICATION_FAILED, summary=summary, details=dict(details)
        )
        details["alert"] = alert.pk
    check_run_record(
        kind=CheckKind.LEDGER_VERIFICATION, started_at=started_at, ok=report.ok, summary=summary, details=details
    )
    return {"ok": report.ok, "problems": len(report.problems), "accounts": report.accounts_checked}


def audit_verify_and_alert(progress: Callable[[int], object] | None = None) -> dict[str, Any]:
    """Verify the order events' chain and record the run; on failure also store a critical
    compliance alert."""
    from apps.orders.chain import ORDER_EVENT_CHAIN, event_chain_verify

    started_at = timezone.now()
    with check_run_errors(CheckKind.AUDIT_VERIFICATION, started_at):
        report = event_chain_verify(progress=progress)
    problems = report.problems(ORDER_EVENT_CHAIN.record_noun)
    details = chain_details(report, problems)
    if report.ok:
        logger.info("order events verified: chain head #%s %s", report.head_sequence, report.head_hash)
        summary = f"Order events OK: {report.links_checked} events, chain head #{report.head_sequence}"
    else:
        summary = f"Audit trail verification failed: {problems[0]}"
        alert = compliance_alert_raise(kind=AlertKind.AUDIT_VERIFICATION_FAILED, summary=summary, details=dict(details))
        details["alert"] = alert.pk
    check_run_record(
        kind=CheckKind.AUDIT_VERIFICATION, started_at=started_at, ok=report.ok, summary=summary, details=details
    )
    return {"ok": report.ok, "problems": len(problems), "events": report.links_checked}
