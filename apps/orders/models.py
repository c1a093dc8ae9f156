"""Orders, order events, fills and positions."""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q

from apps.core.chain import hex_sha256_check
from apps.ledger.fields import AmountField
from apps.orders.state import Status


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"
    STOP = "stop", "Stop"
    STOP_LIMIT = "stop_limit", "Stop limit"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day"
    GTC = "gtc", "Good till canceled"
    IOC = "ioc", "Immediate or cancel"
    FOK = "fok", "Fill or kill"


class Initiator(models.TextChoices):
    CLIENT = "client", "Client"
    FIRM = "firm", "Firm"
    EXPIRY = "expiry", "Expiry"
    KILL_SWITCH = "kill_switch", "Kill switch"
    VENUE = "venue", "Venue"
    SYSTEM = "system", "System"


STATUS_CHOICES = [(s.value, s.value.replace("_", " ").capitalize()) for s in Status]


class Order(models.Model):
    # No index of its own: (account, status) and (account, created_at) lead with it.
    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    instrument = models.ForeignKey("instruments.Instrument", on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=10, choices=OrderType.choices)
    quantity = AmountField()
    limit_price = AmountField(null=True, blank=True)
    stop_price = AmountField(null=True, blank=True)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices)
    client_order_id = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the order's terms, for idempotent retries.")
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=Status.PENDING_NEW)
    filled_quantity = AmountField(default=Decimal(0))
    filled_notional = AmountField(default=Decimal(0))
    average_fill_price = AmountField(null=True, blank=True)
    fees = AmountField(default=Decimal(0))
    notional_estimate = AmountField(
        default=Decimal(0), help_text="Notional the risk check estimates for the order's current terms."
    )
    price_estimate = AmountField(
        null=True,
        blank=True,
        help_text="The price risk estimated per unit at acceptance (the limit price, else the collar-adjusted "
        "reference price): what the hold reserves per unit.",
    )
    reject_reason = models.CharField(max_length=64, blank=True)
    reject_detail = models.TextField(blank=True)
    broker = models.CharField(max_length=32, blank=True)
    broker_order_id = models.CharField(max_length=64, blank=True)
    working_request_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="ClOrdID of the request whose terms the venue works (the submit's, then each confirmed replace's).",
    )
    pending_replace = models.JSONField(
        null=True,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="The replace sent and not answered yet: request_id, quantity, limit_price, stop_price, "
        "price_estimate.",
    )
    venue_cumulative_quantity = AmountField(
        default=Decimal(0), help_text="The most the venue has reported executed (its CumQty): fills still to book."
    )
    hold = models.OneToOneField("ledger.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="order")
    needs_review = models.BooleanField(
        default=False, help_text="A fill arrived after the order was canceled or expired."
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "orders_order"
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=("account", "client_order_id"), name="order_client_order_id_per_account"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in Status]), name="order_status_valid"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="order_side_valid"),
            models.CheckConstraint(condition=Q(type__in=OrderType.values), name="order_type_valid"),
            models.CheckConstraint(condition=Q(time_in_force__in=TimeInForce.values), name="order_tif_valid"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=F("quantity")),
                name="order_never_overfilled",
            ),
            models.CheckConstraint(
                condition=Q(limit_price__isnull=True) | Q(limit_price__gt=0), name="order_limit_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(stop_price__isnull=True) | Q(stop_price__gt=0), name="order_stop_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(type__in=["limit", "stop_limit"], limit_price__isnull=False)
                | Q(type__in=["market", "stop"], limit_price__isnull=True),
                name="order_limit_price_iff_limit_type",
            ),
            models.CheckConstraint(
                condition=Q(type__in=["stop", "stop_limit"], stop_price__isnull=False)
                | Q(type__in=["market", "limit"], stop_price__isnull=True),
                name="order_stop_price_iff_stop_type",
            ),
        ]
        indexes = [
            models.Index(fields=("account", "status"), name="order_account_status"),
            models.Index(fields=("account", "created_at"), name="order_account_created"),
            models.Index(
                fields=("time_in_force",),
                condition=~Q(status__in=["filled", "canceled", "rejected", "expired"]),
                name="order_open_by_tif",
            ),
            # The compliance exception queues: small partial indexes, newest first.
            models.Index(fields=("-created_at", "-id"), condition=Q(status="rejected"), name="order_rejected_queue"),
            models.Index(
                fields=("-updated_at", "-id"), condition=Q(needs_review=True), name="order_needs_review_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} {self.side} {self.quantity} {self.instrument_id} {self.status}"

    @property
    def current_request_id(self) -> str:
        """The ClOrdID the venue works the order under: the submit's (the order id) until a replace
        is confirmed."""
        return self.working_request_id or str(self.pk)

    @property
    def leaves_quantity(self) -> Decimal:
        if self.status in ("filled", "canceled", "rejected", "expired"):
            return Decimal(0)
        return self.quantity - self.filled_quantity


class EventKind(models.TextChoices):
    RECEIVED = "received", "Received"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"
    RISK_REJECTED = "risk_rejected", "Risk rejected"
    ROUTED = "routed", "Routed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    BROKER_REJECTED = "broker_rejected", "Broker rejected"
    REPLACE_REQUESTED = "replace_requested", "Replace requested"
    REPLACED = "replaced", "Replaced"
    REPLACE_REJECTED = "replace_rejected", "Replace rejected"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    CANCELED = "canceled", "Canceled"
    CANCEL_REJECTED = "cancel_rejected", "Cancel rejected"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    EXPIRED = "expired", "Expired"
    STATUS_UNKNOWN = "status_unknown", "Broker outcome unknown"


class OrderEvent(models.Model):
    """One line of an order's timeline. Append-only: the database refuses UPDATE and DELETE."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="events", db_index=False
    )  # (order, id) leads
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    status_after = models.CharField(max_length=16, choices=STATUS_CHOICES)
    at = models.DateTimeField(help_text="Our time (UTC, microseconds).")
    broker_at = models.DateTimeField(null=True, blank=True, help_text="The broker's own time, where it gave one.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    initiator = models.CharField(max_length=16, choices=Initiator.choices, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "orders_orderevent"
        ordering = ("id",)
        indexes = [
            models.Index(fields=("order", "id"), name="order_event_timeline"),
            # the day's events for the blotter and the regulators' export: events are written in
            # time order, so a BRIN index (a few pages, almost free to maintain) narrows a day's range
            BrinIndex(fields=("at",), name="order_event_at_brin"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
            # Every event is queued for the hash chain in the transaction that inserts it, whatever
            # wrote it (save, bulk_create, raw SQL): one statement per INSERT statement.
            pgtrigger.Trigger(
                name="queue_for_chain",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="inserted"),
                func="INSERT INTO orders_unsequencedevent (event_id) SELECT id FROM inserted; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} @ {self.at.isoformat()}"


class OrderEventSequence(models.Model):
    """The order events' gap-free order and hash chain: each committed event gets the next
    number, the SHA-256 of its canonical content, and the chain hash linking it to the previous
    number (``apps/orders/chain.py``). Assigned after commit by the one event sequencer. Append-only.
    """

    sequence = models.BigIntegerField(primary_key=True)
    event = models.OneToOneField(OrderEvent, on_delete=models.PROTECT, related_name="link")
    assigned_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the event's canonical content.")
    chain_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the hash version, this number, the previous chain hash and content hash."
    )
    hash_version = models.PositiveSmallIntegerField(help_text="Version of the canonical form and chain rule.")

    class Meta:
        db_table = "orders_ordereventsequence"
        ordering = ("sequence",)
        constraints = [
            models.CheckConstraint(condition=Q(sequence__gte=1), name="order_event_sequence_positive"),
            models.CheckConstraint(
                condition=hex_sha256_check("content_hash", "chain_hash"), name="order_event_sequence_hashes_hex"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} -> order event {self.event_id}"


class UnsequencedOrderEvent(models.Model):
    """Order events committed but not yet chained: queued by a trigger on insert, consumed by
    the event sequencer."""

    event = models.OneToOneField(OrderEvent, primary_key=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "orders_unsequencedevent"

    def __str__(self) -> str:
        return f"order event {self.event_id} awaiting its link"


class Fill(models.Model):
    """An execution booked to the ledger. Unique per (broker, exec id): a replay books nothing."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    broker = models.CharField(max_length=32)
    exec_id = models.CharField(max_length=128)
    quantity = AmountField()
    price = AmountField()
    fee = AmountField(default=Decimal(0), help_text="The venue's commission; negative for a rebate.")
    executed_at = models.DateTimeField()
    booked_at = models.DateTimeField()
    transaction = models.OneToOneField("ledger.JournalTransaction", on_delete=models.PROTECT, related_name="fill")
    late = models.BooleanField(default=False, help_text="Arrived after the order was canceled or expired.")

    class Meta:
        db_table = "orders_fill"
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=("broker", "exec_id"), name="fill_unique_exec_per_broker"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
        ]
        indexes = [BrinIndex(fields=("booked_at",), name="fill_booked_at_brin")]  # a day's fills (reports)
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"fill {self.exec_id} {self.quantity} @ {self.price}"


class Position(models.Model):
    """Quantity, cost basis and realized P&L of one instrument in one account (average cost).

    The quantity mirrors the ledger's position accounts (available + reserved); the cost basis
    includes buy commissions; a sell realises proceeds minus commission minus the average cost
    of what it sold.
    """

    account = models.ForeignKey("accounts.TradingAccount", on_delete=models.PROTECT, related_name="positions")
    instrument = models.ForeignKey("instruments.Instrument", on_delete=models.PROTECT, related_name="+")
    quantity = AmountField(default=Decimal(0))
    cost_basis = AmountField(default=Decimal(0))
    realized_pnl = AmountField(default=Decimal(0))
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "orders_position"
        constraints = [
            models.UniqueConstraint(fields=("account", "instrument"), name="position_unique_account_instrument"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_no_short"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.instrument_id} {self.quantity}"

    @property
    def average_cost(self) -> Decimal | None:
        return (self.cost_basis / self.quantity) if self.quantity else None
