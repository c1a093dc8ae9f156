"""Reconciliation with the brokers: each enabled broker's positions and open orders against ours,
over what was routed to it. Real PostgreSQL, the real relay and intake; the venue is a small
in-memory plugin (tests/compliance/venue.py) whose reports reach us only when the test books them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.brokers import registry
from apps.brokers.interface import BrokerOrder, BrokerPosition, PluginSpec
from apps.brokers.models import AccountRoute, OrderInstruction
from apps.compliance.models import ComplianceAlert, ReconciliationBreak
from apps.compliance.reconciliation import (
    BROKER_ORDER_NOT_OPEN_HERE,
    BROKER_UNAVAILABLE,
    ORDER_NOT_OPEN_AT_BROKER,
    ORDER_VS_BROKER,
    POSITION_VS_BROKER,
    POSITION_VS_LEDGER,
    reconciliation_run,
)
from apps.compliance.services import exception_review_record
from apps.compliance.tasks import reconcile_task
from apps.ledger import services as ledger
from apps.orders.services import order_cancel
from tests.compliance.venue import OtherVenue, Venue, book, place, send, venues

pytestmark = pytest.mark.django_db


def fund(account, actor):  # type: ignore[no-untyped-def]
    ledger.cash_deposit(
        actor=actor, trading_account=account, currency="USD", amount="100000", idempotency_key=f"vr-{account.pk}"
    )
    return account


@pytest.fixture
def brokers(settings, account, instrument, actor):  # type: ignore[no-untyped-def]
    """Two venues enabled (``venue`` and ``other``); ``account`` routes to ``venue``; no grace."""
    settings.RECONCILIATION_BROKER_GRACE_SECONDS = 0
    with venues(settings, Venue, OtherVenue) as pair:
        AccountRoute.objects.create(account=account, broker="venue")
        fund(account, actor)
        yield pair


@pytest.fixture
def venue(brokers):  # type: ignore[no-untyped-def]
    return brokers[0]


@pytest.fixture
def other(brokers):  # type: ignore[no-untyped-def]
    return brokers[1]


@pytest.fixture
def other_account(make_account, actor, brokers):  # type: ignore[no-untyped-def]
    account = fund(make_account(), actor)
    AccountRoute.objects.create(account=account, broker="other")
    return account


def check(result, broker: str = "venue"):  # type: ignore[no-untyped-def]
    return next(c for c in result.brokers if c.broker == broker)


def kinds(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(b.kind for b in result.recorded)


def test_books_and_brokers_that_agree_give_no_break_and_no_alert(venue, account, actor):
    filled, resting, partial = place(actor, account), place(actor, account), place(actor, account)
    send()
    book("venue", venue.fill(filled.pk, "10"))
    book("venue", venue.fill(partial.pk, "4"))

    result = reconciliation_run()
    assert result.ok and not ReconciliationBreak.objects.exists() and not ComplianceAlert.objects.exists()
    checks = result.as_dict()["brokers"]
    assert checks["venue"] == {
        "error": "",
        "positions_compared": 1,  # (account, ACME): 14 on both sides
        "orders_compared": 2,  # the resting and the partially filled order
        "not_at_venue": 0,
        "within_grace": 0,
        "routed_elsewhere": 0,
        "differences": 0,
    }
    assert checks["other"]["positions_compared"] == 0 and checks["other"]["orders_compared"] == 0
    assert resting.pk in {o.order_id for o in venue.open_orders()}


def test_a_fill_we_never_booked_is_a_break_in_the_order_and_the_position(venue, account, actor):
    order = place(actor, account)
    send()
    venue.fill(order.pk, "10")  # the venue executed; its report never reached us

    result = reconciliation_run()
    assert kinds(result) == [ORDER_NOT_OPEN_AT_BROKER, POSITION_VS_BROKER]
    missing = ReconciliationBreak.objects.get(kind=ORDER_NOT_OPEN_AT_BROKER)
    assert missing.account_id == account.pk and missing.details["key"] == f"venue:order:{order.pk}"
    assert missing.details["ours"]["status"] == "new" and missing.details["theirs"] is None
    assert missing.details["ours"]["submit_status"] == "done"
    assert f"order {order.pk} (account {account.number} ACME) is new here" in missing.summary
    position = ReconciliationBreak.objects.get(kind=POSITION_VS_BROKER)
    assert position.details["key"] == f"venue:position:{account.number}:ACME"
    assert (position.details["ours"]["quantity"], position.details["theirs"]["quantity"]) == ("0", "10")
    assert position.details["difference"] == "-10" and position.details["run_by"] == "system"
    assert "its fills from this broker net 0 but the broker reports 10" in position.summary

    (alert,) = result.alerts
    assert (alert.kind, alert.severity) == ("broker_reconciliation_breaks", "critical")
    assert alert.summary.startswith("Reconciliation with venue: 2 new break(s): ")
    assert sorted(alert.details["new_breaks"]) == sorted(b.pk for b in result.recorded)
    assert alert.details["broker"] == "venue" and alert.details["by_kind"] == {
        ORDER_NOT_OPEN_AT_BROKER: 1,
        POSITION_VS_BROKER: 1,
    }


def test_an_order_open_on_both_sides_whose_quantities_differ(venue, account, actor):
    executed, resized, reported = place(actor, account), place(actor, account), place(actor, account)
    send()
    venue.fill(executed.pk, "4")  # not booked: the venue executed 4, we booked 0
    book("venue", venue.fill(reported.pk, "4"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE orders_order SET quantity = 12 WHERE id = %s", [resized.pk])
        # the venue reported 6 executed earlier, yet now lists 4: a venue never executes less
        cursor.execute("UPDATE orders_order SET venue_cumulative_quantity = 6 WHERE id = %s", [reported.pk])

    result = reconciliation_run()
    found = {b.details["order_id"]: b for b in result.recorded if b.kind == ORDER_VS_BROKER}
    assert found[executed.pk].details["fields"] == ["cumulative_quantity"]
    assert (found[executed.pk].details["ours"]["filled_quantity"], found[executed.pk].details["theirs"]) == (
        "0",
        {
            "status": "partially_filled",
            "quantity": "10",
            "cumulative_quantity": "4",
            "leaves_quantity": "6",
            "broker_order_id": f"VENUE-{executed.pk}",
            "request_id": str(executed.pk),
        },
    )
    assert "executed 0 booked here (the venue reported 0), 4 at the broker" in found[executed.pk].summary
    assert found[resized.pk].details["fields"] == ["quantity"]
    assert "quantity 12 here, 10 at the broker" in found[resized.pk].summary
    assert found[reported.pk].details["fields"] == ["venue_cumulative_quantity"]
    assert kinds(result).count(POSITION_VS_BROKER) == 1  # 4 executed, not booked
    assert (result.alerts[0].severity, len(result.alerts)) == ("critical", 1)


def test_orders_the_broker_works_that_are_not_open_here(venue, account, other_account, actor):
    venue.ignore_cancels = True
    canceled = place(actor, account)
    elsewhere = place(actor, other_account)
    send()
    order_cancel(actor=actor, order_id=canceled.pk)
    send()  # the venue confirms the cancel, but keeps working the order
    canceled.refresh_from_db()
    assert canceled.status == "canceled"
    ghost = BrokerOrder(
        order_id=987654321, broker_order_id="VENUE-X", quantity=Decimal(5), cumulative_quantity=Decimal(0),
        leaves_quantity=Decimal(5),
    )  # fmt: skip
    routed_elsewhere = BrokerOrder(
        order_id=elsewhere.pk, broker_order_id="VENUE-Y", quantity=Decimal(10), cumulative_quantity=Decimal(0),
        leaves_quantity=Decimal(10),
    )  # fmt: skip
    venue.extra_orders = [ghost, routed_elsewhere]

    result = reconciliation_run()
    found = {b.details["order_id"]: b for b in result.recorded}
    assert {b.kind for b in result.recorded} == {BROKER_ORDER_NOT_OPEN_HERE}
    assert set(found) == {canceled.pk, ghost.order_id, elsewhere.pk}
    assert "which is canceled here" in found[canceled.pk].summary
    assert found[canceled.pk].details["ours"]["status"] == "canceled"
    assert "which is not an order here" in found[ghost.order_id].summary
    assert found[ghost.order_id].account_id is None and found[ghost.order_id].details["ours"] is None
    assert "which routes to other here" in found[elsewhere.pk].summary
    (alert,) = result.alerts  # the other venue agrees: no alert for it
    assert (alert.details["broker"], alert.severity) == ("venue", "warning")


def test_positions_compare_what_the_broker_can_know(venue, other, account, actor, instrument):
    route = AccountRoute.objects.get(account=account)
    route.broker = "other"
    route.save()
    first = place(actor, account, quantity="5")
    send()
    book("other", other.fill(first.pk, "5"))
    route.broker = "venue"  # the account moves to the venue; the 5 stay at the other broker
    route.save()
    second = place(actor, account)
    send()
    book("venue", venue.fill(second.pk, "10"))

    result = reconciliation_run()
    assert result.ok, [d.summary for d in result.differences]  # 15 held: 10 from the venue, 5 from the other
    checks = {c.broker: c for c in result.brokers}
    assert checks["venue"].positions_compared == 1
    assert (checks["other"].positions_compared, checks["other"].routed_elsewhere) == (0, 1)

    venue.extra_positions = [BrokerPosition("NOT-OURS-1", "ACME", Decimal(3))]
    (unknown,) = reconciliation_run().recorded
    assert (unknown.kind, unknown.account_id) == (POSITION_VS_BROKER, None)
    assert unknown.details["ours"]["account_known"] is False
    assert "reports 3 ACME for account NOT-OURS-1, which is not ours" in unknown.summary


def test_accounts_without_a_route_use_the_default_broker(settings, venue, make_account, actor):
    settings.DEFAULT_BROKER = "venue"
    unrouted = fund(make_account(), actor)
    order = place(actor, unrouted)
    assert order.broker == "venue"
    send()
    venue.fill(order.pk, "10")
    result = reconciliation_run()
    position = next(b for b in result.recorded if b.kind == POSITION_VS_BROKER)
    assert position.account_id == unrouted.pk


def test_orders_still_in_the_outbox_are_not_breaks(venue, account, actor):
    venue.next_submit = "timeout"  # the venue never got it; the outcome is unknown to us
    unknown = place(actor, account)
    send()
    withdrawn = place(actor, account)
    OrderInstruction.objects.filter(order=withdrawn).update(status="withdrawn")
    pending = place(actor, account)  # not relayed yet
    assert {i.status for i in OrderInstruction.objects.filter(order__in=[unknown, withdrawn, pending])} == {
        "unknown",
        "withdrawn",
        "pending",
    }
    result = reconciliation_run()
    assert result.ok and check(result).not_at_venue == 3 and check(result).orders_compared == 0


def test_an_order_whose_submit_was_dead_lettered_is_a_break(venue, account, actor):
    venue.next_submit = "fatal"
    dead = place(actor, account)
    send()
    assert OrderInstruction.objects.get(order=dead).status == "dead"
    (found,) = reconciliation_run().recorded  # stuck pending_new here, unknown at the venue
    assert (found.kind, found.details["order_id"]) == (ORDER_NOT_OPEN_AT_BROKER, dead.pk)
    assert found.details["ours"]["submit_status"] == "dead" and found.details["ours"]["status"] == "pending_new"


def test_changes_within_the_grace_window_are_not_breaks(settings, venue, account, actor):
    order = place(actor, account)
    send()
    venue.fill(order.pk, "10")  # reports in flight: just acknowledged, the fill not delivered yet
    settings.RECONCILIATION_BROKER_GRACE_SECONDS = 60
    result = reconciliation_run()
    assert result.ok and check(result).within_grace == 2  # the order and the position
    settings.RECONCILIATION_BROKER_GRACE_SECONDS = 0
    assert kinds(reconciliation_run()) == [ORDER_NOT_OPEN_AT_BROKER, POSITION_VS_BROKER]


def test_a_break_is_recorded_and_alerted_once_until_reviewed(venue, account, actor):
    order = place(actor, account)
    send()
    venue.fill(order.pk, "10")
    first = reconciliation_run()
    assert len(first.recorded) == 2 and len(first.alerts) == 1

    again = reconciliation_run()  # nothing new: no break, no alert
    assert (again.recorded, len(again.already_open), again.alerts) == ([], 2, [])
    assert ReconciliationBreak.objects.count() == 2 and ComplianceAlert.objects.count() == 1

    position = ReconciliationBreak.objects.get(kind=POSITION_VS_BROKER)
    exception_review_record(actor=actor, queue="reconciliation_break", object_ids=[position.pk], note="Asked ops.")
    after_review = reconciliation_run()
    assert kinds(after_review) == [POSITION_VS_BROKER] and len(after_review.already_open) == 1
    (alert,) = after_review.alerts
    assert "1 new break(s)" in alert.summary and "1 still open from earlier runs" in alert.summary


def test_one_alert_per_broker_per_run(venue, other, account, other_account, actor):
    mine, theirs = place(actor, account), place(actor, other_account)
    send()
    venue.fill(mine.pk, "10")
    other.fill(theirs.pk, "10")
    result = reconciliation_run()
    assert len(result.recorded) == 4
    alerts = {a.details["broker"]: a for a in result.alerts}
    assert set(alerts) == {"venue", "other"} and len(result.alerts) == 2
    assert len(alerts["other"].details["new_breaks"]) == 2
    listed = ReconciliationBreak.objects.filter(pk__in=alerts["other"].details["new_breaks"])
    assert {b.details["broker"] for b in listed} == {"other"}


def test_a_broker_that_raises_is_reported_and_the_others_are_reconciled(venue, other, other_account, actor):
    venue.down = "connection refused"
    order = place(actor, other_account)
    send()
    other.fill(order.pk, "10")
    with connection.cursor() as cursor:  # and a break in our own books
        cursor.execute("UPDATE orders_order SET filled_quantity = 1 WHERE id = %s", [order.pk])

    result = reconciliation_run()
    assert {b.kind for b in result.recorded} == {
        BROKER_UNAVAILABLE,
        "order_filled_vs_fills",
        ORDER_NOT_OPEN_AT_BROKER,
        POSITION_VS_BROKER,
    }
    down = next(b for b in result.recorded if b.kind == BROKER_UNAVAILABLE)
    assert down.details["key"] == "venue:unavailable" and "connection refused" in down.details["error"]
    assert "could not be reconciled (BrokerError: connection refused)" in down.summary
    alerts = {a.details["broker"]: a for a in result.alerts}
    assert alerts["venue"].kind == "broker_reconciliation_failed" and alerts["venue"].severity == "warning"
    assert alerts["other"].kind == "broker_reconciliation_breaks"

    still_down = reconciliation_run()  # the break waits for review; the control failed again: alert again
    assert still_down.recorded == [] and [a.kind for a in still_down.alerts] == ["broker_reconciliation_failed"]
    assert ReconciliationBreak.objects.filter(kind=BROKER_UNAVAILABLE).count() == 1


class Broken(Venue):
    name = "broken"

    def positions(self):  # type: ignore[no-untyped-def]
        return [BrokerPosition("ACC", "ACME", 1.5)]  # a float: the plugin's bug, not a difference


def _cannot_build(settings):  # type: ignore[no-untyped-def]
    raise RuntimeError("no credentials")


def test_a_plugin_that_cannot_be_built_or_answers_nonsense_is_unavailable(settings, venue, actor):
    specs = [PluginSpec(name="broken", factory=Broken), PluginSpec(name="unbuildable", factory=_cannot_build)]
    with registry.registered(specs[0]), registry.registered(specs[1]):
        settings.BROKERS = {**settings.BROKERS, "broken": {}, "unbuildable": {}}
        result = reconciliation_run()
    errors = {c.broker: c.error for c in result.brokers}
    assert errors["venue"] == "" and errors["other"] == ""
    assert errors["broken"].startswith("ValueError: the quantity of ACC ACME is 1.5")
    assert errors["unbuildable"] == "RuntimeError: no credentials"
    assert sorted(b.details["broker"] for b in result.recorded) == ["broken", "unbuildable"]


def test_queries_do_not_grow_with_the_books(venue, account, actor):
    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert reconciliation_run().ok
        return len(queries)

    for _ in range(2):
        place(actor, account)
    send()
    small = measure()
    for _ in range(6):
        order = place(actor, account, quantity="2")
        send()
        book("venue", venue.fill(order.pk, "1"))
    assert measure() == small


def test_the_nightly_task_reconciles_with_every_enabled_broker(venue, account, actor):
    order = place(actor, account)
    send()
    venue.fill(order.pk, "10")
    result = reconcile_task()
    assert set(result["brokers"]) == {"venue", "other"} and result["brokers"]["venue"]["differences"] == 2
    assert len(result["recorded"]) == 2 and len(result["alerts"]) == 1
    assert POSITION_VS_LEDGER not in {b.kind for b in ReconciliationBreak.objects.all()}
