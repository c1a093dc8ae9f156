"""The FIX adapter's own journal: every application message the counterparty sent that the host
must book, stored as received before the engine counts it as processed.

QuickFIX advances its incoming sequence number only after the application callback returns, so
a message whose row did not commit is asked for again (ResendRequest) after a crash: nothing
received is lost, and the unique (session, exec id) makes a resent or PossDup copy a no-op.
Nothing here refers to an order or ledger row (an order is known by the id in its ClOrdID).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class InboundReport(models.Model):
    """One ExecutionReport (8) or OrderCancelReject (9) as received, until the host acknowledges
    that it recorded it. A message that cannot be mapped is kept too, with its ``problem``: the
    host's intake dead-letters it for staff (never dropped)."""

    session = models.CharField(max_length=64, help_text="The broker (FIX session) it came on.")
    exec_id = models.CharField(max_length=128, help_text="ExecID (17), or the synthetic id of a 9 or a bad message.")
    order_id = models.BigIntegerField(null=True, blank=True, help_text="Our order id, from the ClOrdID.")
    account = models.CharField(max_length=64, blank=True, default="", help_text="Account (1), if named.")
    msg_type = models.CharField(max_length=4)
    seq_num = models.BigIntegerField(help_text="MsgSeqNum (34) it arrived with.")
    poss_dup = models.BooleanField(default=False, help_text="PossDupFlag (43) was set.")
    raw = models.TextField(help_text="The message as received (SOH-separated).")
    problem = models.TextField(blank=True, default="", help_text="Why it cannot be booked, if it cannot.")
    received_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "exec_id"], name="fix44_inbound_unique_exec_id"),
        ]
        indexes = [
            models.Index(fields=["session", "order_id"], name="fix44_inbound_order"),
            models.Index(
                fields=["session", "id"], name="fix44_inbound_unacked", condition=Q(acknowledged_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session} {self.msg_type} {self.exec_id}"


class VenueSnapshot(models.Model):
    """The venue's working orders and positions as its gateway last asked them (mass status and
    positions requests), for the processes that do not hold the session: the compliance
    reconciliation reads them through the adapter while they are recent."""

    session = models.CharField(max_length=64)
    taken_at = models.DateTimeField()
    open_orders = models.JSONField(help_text="BrokerOrder fields, decimals as strings.")
    positions = models.JSONField(help_text="BrokerPosition fields, decimals as strings.")

    class Meta:
        indexes = [models.Index(fields=["session", "-taken_at"], name="fix44_snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.session} at {self.taken_at:%Y-%m-%d %H:%M:%S}"
