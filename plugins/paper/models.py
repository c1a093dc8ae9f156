"""The paper venue's own book: its orders, every report it produced, and the random walk's step.

These are the venue's records, not ours: nothing here refers to an order or ledger row (an
order is known by the ``order_id`` on its ticket). A worker restart loses nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from apps.instruments.models import PriceField
from apps.ledger.fields import AmountField


class PaperStatus(models.TextChoices):
    NEW = "new", "New"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


WORKING = (PaperStatus.NEW, PaperStatus.PARTIALLY_FILLED)


class PaperOrder(models.Model):
    """An order as the paper venue holds it, locked (``no_key``) while it changes."""

    order_id = models.BigIntegerField(unique=True, help_text="Our order id, from the ticket.")
    broker_order_id = models.CharField(max_length=64, unique=True)
    client_order_id = models.CharField(max_length=64)
    account_number = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=16)
    order_type = models.CharField(max_length=16)
    time_in_force = models.CharField(max_length=16)
    quantity = AmountField()
    limit_price = PriceField(null=True, blank=True)
    stop_price = PriceField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=PaperStatus.choices)
    triggered = models.BooleanField(default=False, help_text="A stop order whose stop price was reached.")
    cumulative_quantity = AmountField(default=Decimal(0))
    leaves_quantity = AmountField(default=Decimal(0))
    commission = AmountField(default=Decimal(0), help_text="Commission charged so far, over all fills.")
    exec_seq = models.PositiveIntegerField(default=0, help_text="Reports produced so far (exec id counter).")
    request_id = models.CharField(
        max_length=64, blank=True, help_text="ClOrdID of the request whose terms the order works under."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "paper_order"
        ordering = ("order_id",)
        indexes = [
            models.Index(fields=("order_id",), name="paper_order_working", condition=Q(status__in=WORKING)),
            models.Index(fields=("account_number", "symbol"), name="paper_order_account_symbol"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(cumulative_quantity__gte=0), name="paper_order_cum_nonnegative"),
            models.CheckConstraint(condition=Q(leaves_quantity__gte=0), name="paper_order_leaves_nonnegative"),
            models.CheckConstraint(
                condition=Q(cumulative_quantity__lte=F("quantity")), name="paper_order_never_overfilled"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.broker_order_id} {self.side} {self.quantity} {self.symbol} ({self.status})"


class PaperReport(models.Model):
    """Every execution report the venue produced, in order. ``paper_order`` is empty for the
    rejection of a cancel or replace of an order the venue never received."""

    paper_order = models.ForeignKey(PaperOrder, null=True, on_delete=models.CASCADE, related_name="reports")
    order_id = models.BigIntegerField(db_index=True)
    exec_id = models.CharField(max_length=64, unique=True)
    exec_type = models.CharField(max_length=24)
    broker_order_id = models.CharField(max_length=64, blank=True)
    last_quantity = AmountField(default=Decimal(0))
    last_price = PriceField(null=True, blank=True)
    fee = AmountField(default=Decimal(0))
    cumulative_quantity = AmountField(default=Decimal(0))
    leaves_quantity = AmountField(default=Decimal(0))
    broker_time = models.DateTimeField()
    text = models.TextField(blank=True)
    quantity = AmountField(null=True, blank=True)
    limit_price = PriceField(null=True, blank=True)
    stop_price = PriceField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, help_text="ClOrdID of the request it answers.")
    acknowledged = models.BooleanField(default=False, help_text="The host recorded it: poll stops handing it out.")

    class Meta:
        db_table = "paper_report"
        ordering = ("id",)
        indexes = [models.Index(fields=("id",), name="paper_report_unacknowledged", condition=Q(acknowledged=False))]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.exec_type}"


class PaperWalkState(models.Model):
    """How many random-walk steps were taken under a seed (step ``n`` is reproducible)."""

    seed = models.BigIntegerField(unique=True)
    step = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "paper_walk_state"

    def __str__(self) -> str:
        return f"seed {self.seed}: step {self.step}"
