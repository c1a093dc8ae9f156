"""Report runs, their files and deliveries, and who receives each kind."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

_APPEND_ONLY = [
    pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule (beat)"
    MANUAL = "manual", "Manual (staff)"
    RERUN = "rerun", "Re-run"
    BACKFILL = "backfill", "Backfill command"


class ReportRun(models.Model):
    """One report produced (or being produced) for one period and scope. Audited (auditlog):
    its status changes once, from running to succeeded or failed; it is never deleted."""

    kind = models.CharField(max_length=32)
    business_date = models.DateField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    scope = models.CharField(max_length=16, help_text="firm or account")
    account = models.ForeignKey(
        "accounts.TradingAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="report_runs"
    )
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reruns")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "reports_reportrun"
        ordering = ("-started_at", "-id")
        indexes = [
            models.Index(fields=("business_date", "kind"), name="report_run_date_kind"),
            models.Index(fields=("account", "business_date"), name="report_run_account_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="firm", account__isnull=True) | Q(scope="account", account__isnull=False),
                name="report_run_scope_matches_account",
            ),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="report_run_status_valid"),
            models.CheckConstraint(condition=Q(period_end__gt=models.F("period_start")), name="report_run_period"),
            # a scheduled run happens once per kind, date and scope; re-runs are separate rows
            models.UniqueConstraint(
                fields=("kind", "business_date", "account"),
                condition=Q(trigger="schedule"),
                name="report_run_scheduled_once",
                nulls_distinct=False,
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="report_run_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(
                name="report_run_identity_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    "kind", "business_date", "period_start", "period_end", "scope", "account", "trigger", "started_at"
                ),
            ),
            pgtrigger.Protect(
                name="report_run_finished_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__finished_at__isnull=False),
            ),
        ]
        permissions = [("run_report", "Can run and re-run reports")]

    def __str__(self) -> str:
        target = f" {self.account_id}" if self.account_id else ""
        return f"{self.kind} {self.business_date.isoformat()}{target} ({self.status})"


class ReportFile(models.Model):
    """A file a run produced: where it is stored, its size and SHA-256. Append-only."""

    run = models.ForeignKey(ReportRun, on_delete=models.PROTECT, related_name="files")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=64)
    storage_path = models.CharField(max_length=400)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "reports_reportfile"
        ordering = ("run", "id")
        constraints = [models.UniqueConstraint(fields=("run", "name"), name="report_file_name_once_per_run")]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes, sha256 {self.sha256[:12]})"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class ReportDelivery(models.Model):
    """One attempt to deliver a run's files to one recipient. Append-only."""

    run = models.ForeignKey(ReportRun, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=16, default="email")
    recipient = models.CharField(max_length=254)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    error = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "reports_reportdelivery"
        ordering = ("run", "id")
        verbose_name_plural = "report deliveries"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="report_delivery_status_valid")
        ]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.recipient}: {self.status}"


class ReportRecipient(models.Model):
    """Who receives a report kind by e-mail. For per-account kinds (the statement), a recipient
    with ``account_owners`` receives each account's statement at its owners' addresses instead of
    a fixed address. Audited (auditlog)."""

    kind = models.CharField(max_length=32)
    email = models.EmailField(blank=True)
    account_owners = models.BooleanField(
        default=False, help_text="Per-account kinds: send each account's report to its owners' e-mail addresses."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "reports_reportrecipient"
        ordering = ("kind", "email")
        constraints = [
            models.CheckConstraint(
                condition=~Q(email="") | Q(account_owners=True), name="report_recipient_address_or_owners"
            ),
            models.UniqueConstraint(fields=("kind", "email", "account_owners"), name="report_recipient_once_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} -> {'account owners' if self.account_owners else self.email}"
