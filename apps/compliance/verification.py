"""The nightly verifications and the alerts they raise when they fail."""

from __future__ import annotations

import logging
from typing import Any

from apps.compliance.models import AlertKind
from apps.compliance.services import compliance_alert_raise
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


def ledger_verify_and_alert() -> dict[str, Any]:
    """Run the whole ledger verification; on failure store a critical compliance alert."""
    from apps.ledger.verification import verify

    report = verify()
    details = chain_details(report.chain, report.problems)
    if report.ok:
        logger.info("ledger verified: chain head #%s %s", report.chain.head_sequence, report.chain.head_hash)
    else:
        compliance_alert_raise(
            kind=AlertKind.LEDGER_VERIFICATION_FAILED,
            summary=f"Ledger verification failed: {report.problems[0]}",
            details=details,
        )
    return {"ok": report.ok, "problems": len(report.problems), "accounts": report.accounts_checked}


def audit_verify_and_alert() -> dict[str, Any]:
    """Verify the order events' chain; on failure store a critical compliance alert."""
    from apps.orders.chain import ORDER_EVENT_CHAIN, event_chain_verify

    report = event_chain_verify()
    problems = report.problems(ORDER_EVENT_CHAIN.record_noun)
    details = chain_details(report, problems)
    if report.ok:
        logger.info("order events verified: chain head #%s %s", report.head_sequence, report.head_hash)
    else:
        compliance_alert_raise(
            kind=AlertKind.AUDIT_VERIFICATION_FAILED,
            summary=f"Audit trail verification failed: {problems[0]}",
            details=details,
        )
    return {"ok": report.ok, "problems": len(problems), "events": report.links_checked}
