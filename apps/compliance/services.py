"""Raising compliance alerts."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.compliance.models import ComplianceAlert, Severity

logger = logging.getLogger("apps.compliance.alerts")

#: the stable event name of every alert's log line (``extra["event"]``, and its first word)
ALERT_EVENT = "compliance_alert"


def compliance_alert_raise(
    *, kind: str, summary: str, details: dict[str, Any] | None = None, severity: str = Severity.CRITICAL
) -> ComplianceAlert:
    """Store an alert for compliance staff and log it (CRITICAL for critical alerts) with the
    stable event name ``compliance_alert``, so that log-based paging picks it up too."""
    with transaction.atomic():
        alert = ComplianceAlert.objects.create(
            kind=kind, severity=severity, summary=summary, details=details or {}, raised_at=timezone.now()
        )
    level = logging.CRITICAL if severity == Severity.CRITICAL else logging.WARNING
    logger.log(
        level,
        "%s kind=%s alert=%s: %s",
        ALERT_EVENT,
        kind,
        alert.pk,
        summary,
        extra={"event": ALERT_EVENT, "alert_id": alert.pk, "alert_kind": kind, "severity": severity},
    )
    return alert
