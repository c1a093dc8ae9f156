"""Compliance alerts: what went wrong, when, and who acknowledged it."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.brokers.models import ExecutionReportRecord
from apps.orders.models import Order


class AlertKind(models.TextChoices):
    LEDGER_VERIFICATION_FAILED = "ledger_verification_failed", "Ledger verification failed"
    AUDIT_VERIFICATION_FAILED = "audit_verification_failed", "Audit trail verification failed"
    BROKER_RECONCILIATION_BREAKS = "broker_reconciliation_breaks", "Reconciliation with a broker found breaks"
    BROKER_RECONCILIATION_FAILED = "broker_reconciliation_failed", "A broker could not be reconciled"
    RISK_LIMIT_BREACHED = "risk_limit_breached", "A risk limit was breached (mark-to-market)"


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


_APPEND_ONLY = [
    pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
]


class SecurityEventKind(models.TextChoices):
    LOGIN = "login", "Log-in"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    LOGOUT = "logout", "Log-out"
    TOKEN_ISSUED = "token_issued", "API token issued"
    TOKEN_REFRESHED = "token_refreshed", "API token refreshed"
    LOCKED_OUT = "locked_out", "Log-in refused: locked out"


class SecurityEvent(models.Model):
    """Who logged in, failed to, logged out or obtained an API token; when, and from where.
    Append-only: the database refuses UPDATE and DELETE."""

    kind = models.CharField(max_length=20, choices=SecurityEventKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="The name given, for failed attempts too.")
    channel = models.CharField(max_length=16, help_text="admin or api")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "compliance_securityevent"
        ordering = ("-at", "-id")
        indexes = [
            models.Index(fields=("at",), name="security_event_at"),
            models.Index(fields=("user", "at"), name="security_event_user_at"),
            models.Index(fields=("kind", "at"), name="security_event_kind_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SecurityEventKind.values), name="security_event_kind_valid")
        ]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.at.isoformat()} {self.kind} {self.username}"


class ExceptionQueue(models.TextChoices):
    RISK_REJECTION = "risk_rejection", "Risk rejections"
    LATE_FILL = "late_fill", "Fills booked after a cancel or expiry"
    DEAD_LETTER = "dead_letter", "Dead-lettered execution reports"
    RECONCILIATION_BREAK = "reconciliation_break", "Reconciliation breaks"


class ExceptionReview(models.Model):
    """A supervisor's review of one item of an exception queue: who, when, and what they
    concluded. One per item; append-only."""

    queue = models.CharField(max_length=24, choices=ExceptionQueue.choices)
    object_id = models.BigIntegerField(help_text="The order, report or break reviewed (by queue).")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()
    note = models.TextField()

    class Meta:
        db_table = "compliance_exceptionreview"
        ordering = ("-reviewed_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("queue", "object_id"), name="exception_reviewed_once"),
            models.CheckConstraint(condition=Q(queue__in=ExceptionQueue.values), name="exception_queue_valid"),
            models.CheckConstraint(condition=~Q(note=""), name="exception_review_note_required"),
        ]
        triggers = _APPEND_ONLY
        permissions = [("review_exception", "Can review items of the exception queues")]

    def __str__(self) -> str:
        return f"{self.queue} {self.object_id} reviewed by {self.reviewed_by_id}"


class ReconciliationBreak(models.Model):
    """A difference found by reconciliation (e.g. a position that disagrees with the ledger, or
    with the broker). Append-only: a break is resolved by reviewing it, never by editing it."""

    kind = models.CharField(max_length=40)
    account = models.ForeignKey("accounts.TradingAccount", null=True, blank=True, on_delete=models.PROTECT)
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    found_at = models.DateTimeField()

    class Meta:
        db_table = "compliance_reconciliationbreak"
        ordering = ("-found_at", "-id")
        verbose_name_plural = "queue: reconciliation breaks"
        indexes = [models.Index(fields=("found_at",), name="reconciliation_break_found")]
        triggers = _APPEND_ONLY
        permissions = [("run_reconciliation", "Can run the reconciliation on demand (books and brokers)")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"


# The exception queues (``apps/compliance/queues.py``): other apps' rows seen as a supervisor's
# work list. Proxies, so that each queue has its own admin page and its own view permission;
# which rows belong to a queue is decided by the queue's selector, not by a manager.


class RiskRejection(Order):
    """An order refused at placement by a risk check, or rejected by the broker."""

    class Meta:
        proxy = True
        verbose_name = "risk rejection"
        verbose_name_plural = "queue: risk rejections"


class LateFillOrder(Order):
    """An order that received a fill after it was canceled or expired (``needs_review``)."""

    class Meta:
        proxy = True
        verbose_name = "fill after a cancel or expiry"
        verbose_name_plural = "queue: fills after a cancel or expiry"


class DeadLetteredReport(ExecutionReportRecord):
    """An execution report that could not be applied and was kept as a dead letter."""

    class Meta:
        proxy = True
        verbose_name = "dead-lettered execution report"
        verbose_name_plural = "queue: dead-lettered execution reports"


# --- the runs of the controls -------------------------------------------------------------


class CheckKind(models.TextChoices):
    LEDGER_VERIFICATION = "ledger_verification", "Ledger verification"
    AUDIT_VERIFICATION = "audit_verification", "Audit trail verification"
    RECONCILIATION = "reconciliation", "Reconciliation"


class CheckRun(models.Model):
    """One run of a control (the ledger verification, the audit trail verification, the
    reconciliation), passed or failed: when it ran, who ran it, what it found. Failures also
    raise alerts; this keeps the runs that passed, so "when did it last run, and was it clean"
    has an answer. Append-only: the database refuses UPDATE and DELETE."""

    kind = models.CharField(max_length=24, choices=CheckKind.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField(help_text="Whether the control ran and found nothing wrong.")
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "compliance_checkrun"
        ordering = ("-started_at", "-id")
        verbose_name = "control run"
        indexes = [models.Index(fields=("kind", "-started_at"), name="check_run_kind_started")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=CheckKind.values), name="check_run_kind_valid"),
            models.CheckConstraint(condition=Q(finished_at__gte=models.F("started_at")), name="check_run_times"),
        ]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at.isoformat()}: {'OK' if self.ok else 'FAILED'}"
