"""The paper venue's order lifecycle: cancel, replace, idempotent submit, order status, poll,
positions, health, and its refusal to run inside the caller's transaction."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import transaction

from apps.brokers.interface import BrokerPosition, ExecType, ReplaceRequest
from plugins.paper.models import PaperOrder, PaperReport
from tests.plugins.paper.test_simulator import limit, rows

pytestmark = pytest.mark.django_db

NEW, PARTIAL, FILL, CANCELED = ExecType.NEW, ExecType.PARTIAL_FILL, ExecType.FILL, ExecType.CANCELED
CANCEL_REJECTED, REPLACED, REPLACE_REJECTED = ExecType.CANCEL_REJECTED, ExecType.REPLACED, ExecType.REPLACE_REJECTED


def test_cancel_a_resting_order_then_again(broker, acme, ticket):
    order = ticket(**limit("95.00"))
    broker.submit(order)
    canceled = broker.cancel(order)
    assert rows(canceled) == [(CANCELED, 0, None, 0, 0, 0)]
    assert (canceled[0].exec_id, canceled[0].text) == ("PAPER-1-2", "canceled on request")
    again = broker.cancel(order)
    assert rows(again) == [(CANCEL_REJECTED, 0, None, 0, 0, 0)]
    assert (again[0].exec_id, again[0].text) == ("PAPER-1-3", "the order is canceled")


def test_cancel_of_an_unknown_order_is_rejected_with_its_own_exec_ids(broker, ticket):
    unknown = ticket(order_id=77)
    first, second = broker.cancel(unknown), broker.cancel(unknown)
    assert [(r.exec_type, r.exec_id, r.text, r.broker_order_id) for r in first + second] == [
        (CANCEL_REJECTED, "PAPER-77-X1", "unknown order", ""),
        (CANCEL_REJECTED, "PAPER-77-X2", "unknown order", ""),
    ]
    assert broker.order_status(unknown) == first + second
    assert not PaperOrder.objects.exists()


def test_cancel_a_partially_filled_order(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="30")
    order = ticket()
    broker.submit(order)
    assert rows(broker.cancel(order)) == [(CANCELED, 0, None, 0, 30, 0)]
    assert broker.poll() == []


def test_cancel_of_a_filled_order_is_rejected(broker, acme, ticket):
    order = ticket()
    broker.submit(order)
    answer = broker.cancel(order)
    assert rows(answer) == [(CANCEL_REJECTED, 0, None, 0, 100, 0)] and answer[0].text == "the order is filled"


def test_replace_a_resting_limit_then_into_the_market(broker, acme, ticket):
    order = ticket(**limit("95.00"))
    broker.submit(order)
    replaced = broker.replace(order, ReplaceRequest(quantity=D(200), limit_price=D("96.00")))
    assert rows(replaced) == [(REPLACED, 0, None, 0, 0, 200)]
    assert (replaced[0].quantity, replaced[0].limit_price, replaced[0].stop_price) == (D(200), D("96.00"), None)
    crossing = broker.replace(order, ReplaceRequest(quantity=D(200), limit_price=D("100.50")))
    assert rows(crossing) == [(REPLACED, 0, None, 0, 0, 200), (FILL, 200, D("100.00"), D("1.00"), 200, 0)]
    assert [r.exec_id for r in crossing] == ["PAPER-1-3", "PAPER-1-4"]
    refused = broker.replace(order, ReplaceRequest(quantity=D(300)))
    assert rows(refused) == [(REPLACE_REJECTED, 0, None, 0, 200, 0)] and refused[0].text == "the order is filled"


def test_replace_keeps_prices_left_empty_and_can_trigger_a_stop(broker, acme, ticket):
    order = ticket(order_type="stop_limit", stop_price=D("105.00"), limit_price=D("106.00"), time_in_force="gtc")
    broker.submit(order)
    smaller = broker.replace(order, ReplaceRequest(quantity=D(50)))
    assert (smaller[0].quantity, smaller[0].limit_price, smaller[0].stop_price) == (D(50), D("106.00"), D("105.00"))
    triggered = broker.replace(order, ReplaceRequest(quantity=D(50), stop_price=D("100.00")))
    assert rows(triggered) == [(REPLACED, 0, None, 0, 0, 50), (FILL, 50, D("100.00"), D("1.00"), 50, 0)]


def test_replace_around_the_filled_quantity(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="30")
    order = ticket(time_in_force="gtc")
    broker.submit(order)  # 30 of 100 filled
    below = broker.replace(order, ReplaceRequest(quantity=D(20)))
    assert rows(below) == [(REPLACE_REJECTED, 0, None, 0, 30, 70)]
    assert below[0].text == "the new quantity 20 is below the quantity already filled, 30"
    done = broker.replace(order, ReplaceRequest(quantity=D(30)))
    assert rows(done) == [(REPLACED, 0, None, 0, 30, 0)]  # replaced down to what filled: done
    assert broker.poll() == []
    assert broker.cancel(order)[0].text == "the order is filled"


@pytest.mark.parametrize(
    ("request_", "text"),
    [
        (ReplaceRequest(quantity=D(0)), "the quantity must be a positive Decimal"),
        (ReplaceRequest(quantity=D("10.5")), "the quantity 10.5 is not a multiple of the lot size 1"),
        (
            ReplaceRequest(quantity=D(10), limit_price=D("95.001")),
            "the limit price 95.001 is not a multiple of the tick",
        ),
        (ReplaceRequest(quantity=D(10), stop_price=D("90")), "a stop price is not allowed for this order type"),
    ],
)
def test_replace_with_bad_terms_is_rejected(broker, acme, ticket, request_, text):
    order = ticket(**limit("95.00"))
    broker.submit(order)
    answer = broker.replace(order, request_)
    assert rows(answer) == [(REPLACE_REJECTED, 0, None, 0, 0, 100)] and answer[0].text.startswith(text)


def test_replace_of_an_unknown_order_is_rejected(broker, ticket):
    answer = broker.replace(ticket(order_id=77), ReplaceRequest(quantity=D(1)))
    assert [(r.exec_type, r.exec_id) for r in answer] == [(REPLACE_REJECTED, "PAPER-77-X1")]


def test_submit_is_idempotent_by_order_id(broker, acme, ticket, set_price):
    order = ticket(**limit("99.00"))
    first = broker.submit(order)
    assert broker.submit(order) == first
    set_price(acme, "98.00")
    filled = broker.poll()
    assert broker.submit(order) == first + filled
    changed = type(order)(**{**order.__dict__, "quantity": D(5)})  # same order id, other terms
    assert broker.submit(changed) == first + filled
    assert PaperOrder.objects.count() == 1 and PaperReport.objects.count() == 2


def test_order_status_is_every_report_in_order(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="40")
    order = ticket(time_in_force="gtc")
    produced = list(broker.submit(order)) + list(broker.poll())
    produced += broker.cancel(order)
    assert broker.order_status(order) == produced
    assert [r.exec_type for r in produced] == [NEW, PARTIAL, PARTIAL, CANCELED]
    assert broker.order_status(ticket()) == []


def test_poll_evaluates_in_order_id_order_and_answers_once(broker, acme, ticket, set_price):
    orders = [ticket(**limit(price)) for price in ("99.00", "98.00", "99.50")]
    for order in orders:
        broker.submit(order)
    set_price(acme, "97.00")
    assert [r.order_id for r in broker.poll()] == [1, 2, 3]
    assert broker.poll() == []


def test_positions_net_fills_per_account_and_symbol(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="30")
    broker.submit(ticket(account_number="A", quantity=D(30)))
    broker.submit(ticket(account_number="A", side="sell", quantity=D(10)))
    broker.submit(ticket(account_number="B", quantity=D(100), time_in_force="gtc"))  # 30 of 100 so far
    broker.submit(ticket(account_number="C", quantity=D(5)))
    broker.submit(ticket(account_number="C", side="sell", quantity=D(5)))
    assert broker.positions() == [
        BrokerPosition(account_number="A", symbol="ACME", quantity=D(20)),
        BrokerPosition(account_number="B", symbol="ACME", quantity=D(30)),
    ]


def test_health(broker, acme, ticket, clock):
    broker.submit(ticket(**limit("90.00")))
    health = broker.health()
    assert (health.ok, health.detail, health.checked_at) == (True, "paper: 1 working orders", clock.now)


def test_the_venue_does_not_run_inside_the_callers_transaction(broker, acme, ticket):
    """Its state must not roll back with ours, and no broker is called while we hold locks."""
    with pytest.raises(RuntimeError), transaction.atomic():
        broker.submit(ticket())
    assert not PaperOrder.objects.exists()
