"""Finding what a broker told and we never heard: reports that were dropped on the way.

A venue that drops an execution report (a lost message that its session never resends, a
restart that forgets what it had not delivered) leaves an order open here that is done there,
or a fill booked there and not here. The relay's status queries only cover requests whose
answer was lost; this job asks the venue, for every order routed to it:

- its open orders (``open_orders``, FIX OrderMassStatusRequest), once per run, outside any lock;
- then ``order_status`` for each of our open orders that the venue no longer works, or works
  with more executed than we booked, a different quantity, or never acknowledged here; and for
  each order, open or ended, for which a report showed more executed (CumQty) than we booked
  (a fill report lost on the way while a later report arrived);

and feeds the reports to the intake, which books what it had not seen (every exec id once).
Orders with an instruction still in the relay's hands are left to the relay.
"""

from __future__ import annotations

import logging

from django.db.models import F, Q

from apps.brokers import intake, registry
from apps.brokers.interface import BrokerAdapter, BrokerOrder
from apps.brokers.models import InstructionStatus, OrderInstruction
from apps.brokers.sinks import order_side
from apps.core import faults
from apps.orders.models import Order
from apps.orders.state import OPEN

logger = logging.getLogger(__name__)
ACTIVE = (InstructionStatus.PENDING, InstructionStatus.IN_FLIGHT, InstructionStatus.UNKNOWN)


def _stale(order: Order, venue: BrokerOrder | None) -> bool:
    """Whether our view of ``order`` may lack a report the venue sent."""
    if venue is None:
        return True  # open here, done (or unknown) there
    return (
        venue.cumulative_quantity != order.filled_quantity
        or (venue.quantity != order.quantity and not order.pending_replace)
        or not order.broker_order_id
    )


def resync_broker(name: str, *, adapter: BrokerAdapter | None = None, limit: int = 500) -> int:
    """Ask ``name`` about our open orders there and book what we missed; returns the number of
    orders it asked about."""
    adapter = adapter or registry.get_adapter(name)
    venue = {o.order_id: o for o in adapter.open_orders()}
    busy = OrderInstruction.objects.filter(broker=name, status__in=ACTIVE).values("order_id")
    ours = (
        Order.objects.filter(broker=name)
        .filter(Q(status__in=[s.value for s in OPEN]) | Q(venue_cumulative_quantity__gt=F("filled_quantity")))
        .exclude(pk__in=busy)
        .select_related("account", "instrument")
        .order_by("id")
    )
    asked = 0
    for order in ours.iterator(chunk_size=500):
        if asked >= limit:
            break
        if not _stale(order, venue.get(order.pk)):
            continue
        asked += 1
        reports = list(adapter.order_status(order_side().ticket_for(order)))
        faults.point("brokers.resync.after_status")
        if reports:
            intake.receive_many(name, reports)
    return asked


def resync_brokers() -> int:
    """Resync every enabled broker; one that fails is logged and skipped. A broker whose plugin
    relays its own instructions (a FIX gateway) is resynced by that process, at every logon."""
    asked = 0
    own = set(registry.own_relay_brokers())
    for name in registry.enabled_brokers():
        if name in own:
            continue
        try:
            asked += resync_broker(name)
        except Exception:
            logger.warning("could not resync %s", name, exc_info=True)
    return asked
