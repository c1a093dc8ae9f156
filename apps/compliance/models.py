"""Compliance alerts: what went wrong, when, and who acknowledged it."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class AlertKind(models.TextChoices):
    LEDGER_VERIFICATION_FAILED = "ledger_verification_failed", "Ledger verification failed"
    AUDIT_VERIFICATION_FAILED = "audit_verification_failed", "Audit trail verification failed"


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class ComplianceAlert(models.Model):
    """One alert for compliance staff. What it says never changes (a trigger refuses it, and
    deleting it); only its acknowledgement is filled in, once."""

    kind = models.CharField(max_length=40, choices=AlertKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    raised_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "compliance_alert"
        ordering = ("-raised_at", "-id")
        indexes = [
            models.Index(fields=("raised_at",), name="compliance_alert_raised"),
            models.Index(fields=("kind", "raised_at"), name="compliance_alert_kind_raised"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="compliance_alert_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="compliance_alert_severity_valid"),
            models.CheckConstraint(
                condition=Q(acknowledged_by__isnull=True, acknowledged_at__isnull=True)
                | Q(acknowledged_by__isnull=False, acknowledged_at__isnull=False),
                name="compliance_alert_acknowledged_by_and_at",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="alert_content_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange("kind", "severity", "summary", "details", "raised_at"),
            ),
            pgtrigger.Protect(
                name="alert_acknowledged_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__acknowledged_at__isnull=False),
            ),
            pgtrigger.Protect(name="alert_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.summary}"
