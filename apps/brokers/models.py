"""Routing, the outbox of instructions to brokers, and the record of execution reports."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class AccountRoute(models.Model):
    """The broker an account's orders go to (accounts without a route use DEFAULT_BROKER)."""

    account = models.OneToOneField("accounts.TradingAccount", on_delete=models.CASCADE, related_name="route")
    broker = models.CharField(max_length=32)

    class Meta:
        db_table = "brokers_accountroute"

    def __str__(self) -> str:
        return f"{self.account_id} -> {self.broker}"


class Action(models.TextChoices):
    SUBMIT = "submit", "Submit"
    CANCEL = "cancel", "Cancel"
    REPLACE = "replace", "Replace"


class InstructionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    UNKNOWN = "unknown", "Outcome unknown (resolve by status query)"
    DONE = "done", "Done"
    DEAD = "dead", "Dead-lettered"


class OrderInstruction(models.Model):
    """The outbox: written in the same transaction that accepts (or cancels, replaces) an
    order, then claimed by the relay with SKIP LOCKED and handed to the broker. A crash
    between commit and enqueue loses nothing: the row waits for the next relay run."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="instructions")
    broker = models.CharField(max_length=32)
    action = models.CharField(max_length=8, choices=Action.choices)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=InstructionStatus.choices, default=InstructionStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "brokers_orderinstruction"
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=Q(status__in=InstructionStatus.values), name="instruction_status_valid"),
            models.CheckConstraint(condition=Q(action__in=Action.values), name="instruction_action_valid"),
        ]
        indexes = [
            models.Index(
                fields=("available_at", "id"),
                condition=Q(status__in=["pending", "unknown"]),
                name="instruction_ready",
            ),
            models.Index(fields=("claimed_at",), condition=Q(status="in_flight"), name="instruction_in_flight"),
        ]

    def __str__(self) -> str:
        return f"{self.action} order {self.order_id} via {self.broker}: {self.status}"


class ReportStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    DEAD = "dead", "Dead-lettered"


class ExecutionReportRecord(models.Model):
    """Every execution report received, once per (broker, exec id): a duplicated or replayed
    report finds its row and changes nothing. Reports that cannot be applied are kept as
    dead letters for staff to inspect and replay."""

    broker = models.CharField(max_length=32)
    exec_id = models.CharField(max_length=128)
    order_id = models.BigIntegerField(db_index=True)
    exec_type = models.CharField(max_length=20)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=8, choices=ReportStatus.choices)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField()

    class Meta:
        db_table = "brokers_executionreport"
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("broker", "exec_id"), name="report_unique_exec_per_broker")]
        indexes = [
            # The dead-letter queue staff work through: a small partial index, newest first.
            models.Index(fields=("-received_at", "-id"), condition=Q(status="dead"), name="report_dead_letter_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.broker}:{self.exec_id} {self.exec_type} {self.status}"
