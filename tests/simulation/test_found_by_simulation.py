"""Faults the venue simulation found beyond the issue's list, each replayed here as the smallest
scenario that shows it (the seed that found it is named in each test)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers import relay
from apps.brokers.models import ExecutionReportRecord
from apps.brokers.tasks import resync_task
from apps.core.actors import system_actor
from apps.ledger import services as ledger
from apps.ledger.models import Hold
from apps.ledger.verification import verify
from apps.orders.holds import hold_needed
from apps.orders.models import Fill, Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace

pytestmark = pytest.mark.django_db


def resting_buy(account, quantity: str = "10", limit: str = "95.00") -> Order:  # type: ignore[no-untyped-def]
    ledger.cash_deposit(
        actor=system_actor(), trading_account=account, currency="USD", amount="5000", idempotency_key=f"f{account.pk}"
    )
    order = order_place(
        actor=system_actor(),
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force="gtc",
    )
    relay.relay_once()
    order.refresh_from_db()
    return order


def test_a_fill_dropped_before_the_cancel_confirmed_is_found_by_resync(sim, account):
    """Seed 12: the venue filled 4 of 10, that report was lost, then it confirmed our cancel (CumQty 4).
    The order ended canceled here, so the resync, which asked only about open orders, never
    looked: the fill was never booked and its hold never released."""
    order = resting_buy(account)
    sim.faults.drop = 1.0
    sim.fill_some(order.pk, forced=True, quantity=Decimal(4))  # executed there; the report never arrives
    sim.faults.drop = 0.0
    order_cancel(actor=system_actor(), order_id=order.pk)
    relay.relay_once()
    relay.poll_brokers()
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.venue_cumulative_quantity) == ("canceled", 0, 4)
    assert Hold.objects.get(pk=order.hold_id).status == "active"  # still covering the fill on its way

    assert resync_task.run() == 1
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("canceled", Decimal(4))
    assert Fill.objects.filter(order=order).count() == 1
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert resync_task.run() == 0  # nothing left to ask about
    assert verify().ok


def test_a_cancel_answered_after_the_venue_refused_the_order_is_not_a_dead_letter(sim, account):
    """Seed 9: the venue refused the order; our cancel (the session close's) reached it after and was
    answered "too late". That answer was dead-lettered as an illegal transition of a rejected order."""
    sim.faults.reject_new = 1.0
    sim.faults.late = 1.0  # the refusal is on its way
    order = resting_buy(account)
    sim.faults.late = 0.0
    order_cancel(actor=system_actor(), order_id=order.pk)  # the venue has the order: asks it
    relay.poll_brokers()  # the refusal arrives first
    relay.relay_once()  # then the cancel reaches the venue: "too late"
    order.refresh_from_db()
    assert order.status == "rejected"
    assert [r.exec_type for r in sim.log] == ["rejected", "cancel_rejected"]
    assert not ExecutionReportRecord.objects.filter(status="dead").exists()
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert verify().ok


def test_a_cancel_rejected_before_the_venue_refusal_arrives_does_not_acknowledge_the_order(sim, account):
    """Seed 38: as above, but the "too late" answer to our cancel came before the venue's refusal.
    Its venue order id was taken as the order's acknowledgement, so the order went back to new and
    the refusal that followed was dead-lettered as an illegal transition: the hold stayed."""
    sim.faults.reject_new = 1.0
    sim.faults.late = 1.0  # the refusal is on its way
    order = resting_buy(account)
    sim.faults.late = 0.0
    order_cancel(actor=system_actor(), order_id=order.pk)
    relay.relay_once()  # the cancel's answer comes first: "too late: order rejected"
    order.refresh_from_db()
    assert order.status != "new"
    assert order.broker_order_id == ""
    relay.poll_brokers()  # then the refusal
    order.refresh_from_db()
    assert order.status == "rejected"
    assert [r.exec_type for r in sim.log] == ["rejected", "cancel_rejected"]
    assert not ExecutionReportRecord.objects.filter(status="dead").exists()
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert verify().ok


def test_a_late_fill_under_the_old_terms_does_not_imply_a_pending_replace(sim, account):
    """Seed 23: buy 8, replaced to 4; the venue filled 3 under the old terms (that report came late),
    then 1 more (filled in full at 4). A second replace back to 8 was still unanswered when the
    late fill arrived: its quantity, 8, equalled the pending replace's, so it was taken as proof the
    venue had applied that replace. The order went back to 8 and stayed open here, filled there."""
    order = resting_buy(account, quantity="8")
    sim.fill_some(order.pk, forced=True, quantity=Decimal(3))  # its report waits for a poll
    order_replace(actor=system_actor(), order_id=order.pk, quantity="4")
    relay.relay_once()  # REPLACED: 4, of which 3 executed
    sim.fill_some(order.pk, forced=True, quantity=Decimal(1))  # filled in full there
    order_replace(actor=system_actor(), order_id=order.pk, quantity="8")  # not sent yet
    late = next(r for r in sim.log if r.exec_type in ("fill", "partial_fill"))
    assert (late.quantity, late.request_id) == (Decimal(8), str(order.pk))  # the submit's terms

    relay.poll_brokers()
    order.refresh_from_db()
    assert (order.status, order.quantity, order.filled_quantity) == ("filled", Decimal(4), Decimal(4))
    relay.relay_once()  # the second replace reaches the venue: too late
    relay.poll_brokers()
    order.refresh_from_db()
    assert (order.status, order.quantity, order.filled_quantity) == ("filled", Decimal(4), Decimal(4))
    assert order.pending_replace is None
    assert not ExecutionReportRecord.objects.filter(status="dead").exists()
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert verify().ok


def test_a_fill_under_the_old_terms_while_a_replace_is_pending_leaves_the_new_terms_covered(sim, account):
    """Seed 113: buy 11 @ 99 replaced to 18 @ 97. The hold grew to cover 18 @ 97, but before the
    venue applied the replace it filled 4 at the old, dearer 99: the fill took 4 x 99 from a hold
    sized for 4 x 97, and the 14 left under the new terms were 8.00 short."""
    order = resting_buy(account, quantity="11", limit="99.00")
    order_replace(actor=system_actor(), order_id=order.pk, quantity="18", limit_price="97.00")
    order.refresh_from_db()
    hold = Hold.objects.get(pk=order.hold_id)
    # 11 may still fill at 99 before the replace applies, the other 7 at 97; the fee estimate on top
    assert hold.remaining == Decimal("11") * 99 + 7 * 97 + Decimal("1.00") == hold_needed(order)

    sim.fill_some(order.pk, forced=True, quantity=Decimal(4))  # at 99, before the replace arrives
    relay.poll_brokers()
    order.refresh_from_db()
    hold.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("pending_replace", Decimal(4))
    assert hold.remaining == hold_needed(order) == 7 * 99 + 7 * Decimal(97) + Decimal("1.00") - order.fees

    relay.relay_once()  # REPLACED: 18 @ 97, 4 executed
    sim.fill_some(order.pk, forced=True, quantity=Decimal(14))  # the rest at 97
    relay.poll_brokers()
    order.refresh_from_db()
    assert (order.status, order.quantity, order.filled_quantity) == ("filled", Decimal(18), Decimal(18))
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert verify().ok


def test_a_fill_under_the_old_terms_reported_after_the_replace_leaves_the_rest_covered(sim, account):
    """Seed 133477991: buy 11 @ 99 replaced to 10 @ 97. The venue filled 2 at the old 99 before it
    applied the replace, and that fill was reported after the REPLACED. The REPLACED released the
    hold down to 10 x 97; the fill then took 2 x 99 from it, and the 8 left were 4.00 short. A fill
    dearer than its hold reserved now pays the difference from available cash."""
    order = resting_buy(account, quantity="11", limit="99.00")
    sim.fill_some(order.pk, forced=True, quantity=Decimal(2))  # at 99; its report waits for a poll
    order_replace(actor=system_actor(), order_id=order.pk, quantity="10", limit_price="97.00")
    relay.relay_once()  # REPLACED: 10 @ 97, 2 executed
    order.refresh_from_db()
    hold = Hold.objects.get(pk=order.hold_id)
    assert (order.quantity, order.filled_quantity, order.venue_cumulative_quantity) == (10, 0, 2)
    assert hold.remaining == hold_needed(order) == 10 * 97 + Decimal("1.00")

    relay.poll_brokers()  # the fill: 2 @ 99
    order.refresh_from_db()
    hold.refresh_from_db()
    fill = Fill.objects.get(order=order)
    assert (order.status, fill.quantity, fill.price) == ("partially_filled", 2, Decimal("99.00"))
    assert hold.remaining == hold_needed(order) == 8 * 97 + Decimal("1.00") - order.fees
    assert hold.captured == 2 * 97  # what it reserved for those two; the other 4.00 from available

    sim.fill_some(order.pk, forced=True, quantity=Decimal(8))
    relay.poll_brokers()
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", Decimal(10))
    assert Hold.objects.get(pk=order.hold_id).status != "active"
    assert verify().ok
