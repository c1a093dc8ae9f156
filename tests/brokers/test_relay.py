"""The relay against a venue that fails the ways real ones do: answers lost in a timeout,
transient errors, permanent errors. A lost answer is resolved by asking the venue, never by
sending again; transient errors back off; permanent ones are dead-lettered for staff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.brokers import registry, relay
from apps.brokers.interface import BrokerError, BrokerTimeout, ExecutionReport, OrderTicket, PluginSpec
from apps.brokers.models import AccountRoute, OrderInstruction
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from tests.plugins.dummy.plugin import DummyBroker

pytestmark = pytest.mark.django_db


class FlakyVenue(DummyBroker):
    """The dummy venue, with a script of failures for ``submit``."""

    name = "flaky"
    script: list[str] = []  # per submit call: "timeout" (the venue took it, the answer is lost), "transient", "fatal"
    submits = 0

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        FlakyVenue.submits += 1
        step = FlakyVenue.script.pop(0) if FlakyVenue.script else "ok"
        if step == "timeout":
            super().submit(ticket)
            raise BrokerTimeout("no answer within 5 s")
        if step == "transient":
            raise BrokerError("connection reset", transient=True)
        if step == "fatal":
            raise BrokerError("unknown account at the venue")
        return super().submit(ticket)


@pytest.fixture
def flaky(settings, account, actor, instrument):
    FlakyVenue.script, FlakyVenue.submits = [], 0
    spec = PluginSpec(name="flaky", factory=FlakyVenue, default_settings={"price": "100.00", "fee": "1.00"})
    with registry.registered(spec):
        settings.BROKERS = {**settings.BROKERS, "flaky": {}}
        AccountRoute.objects.create(account=account, broker="flaky")
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="f")
        yield FlakyVenue


def place(actor, account):
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="10",
        limit_price="100.00",
        time_in_force="day",
    )


def make_ready(order):
    OrderInstruction.objects.filter(order=order).update(available_at=timezone.now() - timedelta(seconds=1))


def test_a_lost_answer_is_resolved_by_asking_never_by_resending(flaky, account, actor):
    flaky.script = ["timeout"]
    order = place(actor, account)
    assert order.broker == "flaky"
    assert relay.relay_once() == 1
    instruction = OrderInstruction.objects.get(order=order)
    assert instruction.status == "unknown" and instruction.available_at > timezone.now()
    make_ready(order)
    assert relay.relay_once() == 1
    order.refresh_from_db()
    assert order.status == "filled"
    assert flaky.submits == 1  # asked for the status, did not send again
    assert OrderInstruction.objects.get(order=order).status == "done"


def test_transient_errors_back_off_then_succeed(flaky, account, actor):
    flaky.script = ["transient", "transient"]
    order = place(actor, account)
    for attempt in (1, 2):
        relay.relay_once()
        instruction = OrderInstruction.objects.get(order=order)
        assert (instruction.status, instruction.attempts) == ("pending", attempt)
        assert instruction.available_at >= timezone.now() + timedelta(seconds=2**attempt - 1)
        assert "connection reset" in instruction.last_error
        make_ready(order)
    relay.relay_once()
    order.refresh_from_db()
    assert order.status == "filled" and flaky.submits == 3


def test_a_permanent_error_is_dead_lettered_and_the_order_kept(flaky, account, actor):
    flaky.script = ["fatal"]
    order = place(actor, account)
    relay.relay_once()
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.last_error) == ("dead", "unknown account at the venue")
    order.refresh_from_db()
    assert order.status == "pending_new" and order.hold.remaining == Decimal("1001.00")
    make_ready(order)
    assert relay.relay_once() == 0  # dead letters wait for staff, they are not retried


def test_retries_are_bounded(flaky, account, actor):
    flaky.script = ["transient"] * relay.MAX_ATTEMPTS
    order = place(actor, account)
    for _ in range(relay.MAX_ATTEMPTS):
        make_ready(order)
        relay.relay_once()
    assert OrderInstruction.objects.get(order=order).status == "dead"
    assert flaky.submits == relay.MAX_ATTEMPTS


def test_a_cancel_waits_for_its_submit(flaky, account, actor):
    flaky.script = ["transient"]
    order = place(actor, account)
    relay.relay_once()  # submit failed, backs off
    order_cancel(actor=actor, order_id=order.pk)
    make_ready(order)
    OrderInstruction.objects.filter(order=order, action="submit").update(
        available_at=timezone.now() + timedelta(hours=1)
    )
    assert relay.relay_once() == 0  # the cancel is not sent before the submit
    make_ready(order)
    assert relay.relay_once() == 1  # the submit
    assert relay.relay_once() == 1  # then the cancel
    assert list(OrderInstruction.objects.filter(order=order).order_by("id").values_list("action", "status")) == [
        ("submit", "done"),
        ("cancel", "done"),
    ]
    order.refresh_from_db()
    assert order.status == "filled"  # the venue filled it first; its cancel rejection changes nothing
