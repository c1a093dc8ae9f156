"""Routing, the outbox of instructions to brokers, and the record of execution reports."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
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
    WITHDRAWN = "withdrawn", "Withdrawn before it was sent"


OUTBOX_CHANNEL = "brokers_outbox"


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
    maybe_delivered = models.BooleanField(
        default=False,
        help_text="An attempt's outcome was unknown (timeout, unexpected error, worker lost): the venue may "
        "have acted on it, so it is never withdrawn locally.",
    )
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
            # the dead letters per broker (/metrics counts them at every scrape): a small partial index
            models.Index(fields=("broker",), condition=Q(status="dead"), name="instruction_dead"),
        ]
        triggers = [
            # Wakes the relay loops (``relay_loop.py``) once per inserting statement; delivered at commit.
            pgtrigger.Trigger(
                name="outbox_notify",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=f"PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL;",
            )
        ]
        permissions = [("close_dead_order", "Can close an order whose submit was dead-lettered")]

    def __str__(self) -> str:
        return f"{self.action} order {self.order_id} via {self.broker}: {self.status}"

    @property
    def request_id(self) -> str:
        """The request's FIX ClOrdID: the order id for its submit, ``{order}-{instruction}`` after."""
        return request_id_for(self.order_id, self.pk, self.action)


def request_id_for(order_id: int, instruction_id: int, action: str) -> str:
    return str(order_id) if action == Action.SUBMIT else f"{order_id}-{instruction_id}"


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
    attempts = models.PositiveIntegerField(
        default=1, help_text="Times it was applied or tried (redeliveries, replays)."
    )
    applied_at = models.DateTimeField(null=True, blank=True)

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


class ReportReplay(models.Model):
    """A staff member re-applied a dead-lettered report, with the reason and what came of it.
    Append-only: the record of who pushed which report through, and why."""

    report = models.ForeignKey(ExecutionReportRecord, on_delete=models.PROTECT, related_name="replays")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    outcome = models.CharField(max_length=12)  # applied | dead | duplicate
    error = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "brokers_reportreplay"
        ordering = ("id",)
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="report_replay_reason_required")]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]
        permissions = [("replay_report", "Can replay a dead-lettered execution report")]

    def __str__(self) -> str:
        return f"replay of {self.report_id}: {self.outcome}"


class BrokerControl(models.Model):
    """Operations' hand on a broker route: paused, the relay sends nothing to the broker and its
    orders wait in the outbox (cancels of orders never sent are withdrawn here). Audited."""

    broker = models.CharField(max_length=32, unique=True)
    paused = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "brokers_brokercontrol"
        permissions = [("pause_broker", "Can pause and resume a broker route")]

    def __str__(self) -> str:
        return f"{self.broker}: {'paused' if self.paused else 'active'}"


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed (calls flow)"
    OPEN = "open", "Open (cooling down: no calls)"
    HALF_OPEN = "half_open", "Half open (one probe)"


class BrokerCircuit(models.Model):
    """The relay's circuit breaker per broker: after consecutive transport failures it opens for a
    cool-down, then lets one probe through (half open); a success closes it. System state."""

    broker = models.CharField(max_length=32, unique=True)
    state = models.CharField(max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "brokers_brokercircuit"
        constraints = [
            models.CheckConstraint(condition=Q(state__in=CircuitState.values), name="broker_circuit_state_valid")
        ]

    def __str__(self) -> str:
        return f"{self.broker}: {self.state}"
