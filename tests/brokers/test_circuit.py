"""A broker that is down: the circuit breaker stops calling it for a cool-down, its orders wait in
the outbox, one probe goes first when the cool-down is over, and on its return cancels go before
new orders. Operations can pause and resume a route by hand, audited."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from apps.brokers import registry, relay
from apps.brokers.interface import BrokerError, ExecutionReport, OrderTicket, PluginSpec
from apps.brokers.models import AccountRoute, BrokerCircuit, BrokerControl, OrderInstruction
from apps.brokers.services import broker_pause, broker_resume
from apps.core.errors import ApplicationError
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from tests.plugins.dummy.plugin import DummyBroker

pytestmark = pytest.mark.django_db
_coids = itertools.count(1)


class DownVenue(DummyBroker):
    """The dummy venue that can be down (every call fails before reaching it) and logs its calls."""

    name = "down"
    venue: DownVenue

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.down = False
        self.calls: list[tuple[str, int]] = []
        DownVenue.venue = self

    def _reach(self, what: str, ticket: OrderTicket) -> None:
        if self.down:
            raise BrokerError("connection refused", transient=True)
        self.calls.append((what, ticket.order_id))

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        self._reach("submit", ticket)
        return super().submit(ticket)

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        self._reach("cancel", ticket)
        return super().cancel(ticket)


@pytest.fixture
def venue(settings, account, actor, instrument):
    settings.BROKERS_CIRCUIT_FAILURES = 3
    settings.BROKERS_CIRCUIT_COOLDOWN_SECONDS = 30
    spec = PluginSpec(name="down", factory=DownVenue, default_settings={"price": "100.00", "fee": "1.00"})
    with registry.registered(spec):
        settings.BROKERS = {**settings.BROKERS, "down": {}}
        AccountRoute.objects.create(account=account, broker="down")
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="d")
        yield registry.get_adapter("down")


def place(actor, account):
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="100.00",
        time_in_force="gtc",
        client_order_id=f"cb-{next(_coids)}",
    )


def all_ready():
    OrderInstruction.objects.update(available_at=timezone.now() - timedelta(seconds=1))


def test_the_circuit_opens_after_consecutive_failures_and_orders_wait(venue, account, actor):
    venue.down = True
    orders = [place(actor, account) for _ in range(5)]
    relay.relay_once()
    circuit = BrokerCircuit.objects.get(broker="down")
    assert (circuit.state, circuit.consecutive_failures) == ("open", 3)
    assert circuit.retry_at > timezone.now() + timedelta(seconds=25)
    # three attempts counted; the rest of the batch was put back without counting an attempt
    attempts = sorted(OrderInstruction.objects.values_list("attempts", flat=True))
    assert attempts == [0, 0, 1, 1, 1]
    assert set(OrderInstruction.objects.values_list("status", flat=True)) == {"pending"}
    all_ready()
    assert relay.relay_once() == 0  # open: nothing is claimed, nothing is lost
    assert all(o.status == "pending_new" for o in orders)


def test_after_the_cool_down_one_probe_closes_it_and_cancels_go_first(venue, account, actor):
    venue.down = True
    at_venue = place(actor, account)
    OrderInstruction.objects.filter(order=at_venue).update(status="done")  # it reached the venue earlier
    waiting = [place(actor, account) for _ in range(3)]
    relay.relay_once()
    assert BrokerCircuit.objects.get(broker="down").state == "open"
    canceled_here = order_cancel(actor=actor, order_id=waiting[0].pk)
    assert canceled_here.status == "canceled"  # never left the outbox: canceled without the venue
    assert order_cancel(actor=actor, order_id=at_venue.pk).status == "pending_cancel"
    venue.down = False
    BrokerCircuit.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
    all_ready()
    assert relay.relay_once() == 1  # half open: one probe, and it is the cancel
    assert venue.calls == [("cancel", at_venue.pk)]
    assert BrokerCircuit.objects.get(broker="down").state == "closed"
    all_ready()
    relay.relay_once()
    assert venue.calls[1:] == [("submit", waiting[1].pk), ("submit", waiting[2].pk)]
    assert not any(call == ("submit", waiting[0].pk) for call in venue.calls)  # withdrawn: never sent


def test_a_failed_probe_opens_the_circuit_again(venue, account, actor):
    venue.down = True
    place(actor, account)
    place(actor, account)
    place(actor, account)
    relay.relay_once()
    BrokerCircuit.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
    all_ready()
    assert relay.relay_once() == 1
    circuit = BrokerCircuit.objects.get(broker="down")
    assert circuit.state == "open" and circuit.retry_at > timezone.now()


def test_an_outage_longer_than_the_attempt_cap_dead_letters_nothing(venue, account, actor):
    """Seed 659: the venue was down for twenty steps; every cool-down one instruction probed it and
    each failed probe cost that instruction an attempt, until it was dead-lettered while the venue
    was simply away. A failed probe is the line's failure: its attempt is given back."""
    venue.down = True
    orders = [place(actor, account) for _ in range(3)]
    relay.relay_once()  # three failures: the circuit opens
    for _ in range(relay.MAX_ATTEMPTS * 2):
        BrokerCircuit.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
        all_ready()
        assert relay.relay_once() == 1  # a probe, and it fails
        assert BrokerCircuit.objects.get(broker="down").state == "open"
    assert set(OrderInstruction.objects.values_list("status", flat=True)) == {"pending"}
    assert max(OrderInstruction.objects.values_list("attempts", flat=True)) == 1

    venue.down = False
    BrokerCircuit.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
    all_ready()
    relay.relay_once()  # the probe gets through and closes the circuit
    all_ready()
    relay.relay_once()
    assert sorted(order_id for _, order_id in venue.calls) == sorted(o.pk for o in orders)
    assert set(OrderInstruction.objects.values_list("status", flat=True)) == {"done"}


def test_a_refusal_is_an_answer_not_a_failure(venue, account, actor, settings):
    settings.BROKERS_CIRCUIT_FAILURES = 1
    order = place(actor, account)

    def refuse(ticket):  # type: ignore[no-untyped-def]
        raise BrokerError("unknown account at the venue")

    venue.submit = refuse  # type: ignore[method-assign]
    relay.relay_once()
    assert OrderInstruction.objects.get(order=order).status == "dead"
    assert not BrokerCircuit.objects.filter(state="open").exists()


def test_operations_pause_and_resume_a_route_audited(venue, account, actor):
    for reason in ("", "  "):
        with pytest.raises(ApplicationError):
            broker_pause(actor=actor, broker="down", reason=reason)
    with pytest.raises(ApplicationError) as unknown:
        broker_pause(actor=actor, broker="nope", reason="x")
    assert unknown.value.code == "unknown_broker"
    broker_pause(actor=actor, broker="down", reason="venue maintenance 18:00-18:30")
    order = place(actor, account)
    assert relay.relay_once() == 0 and venue.calls == []
    assert OrderInstruction.objects.get(order=order).status == "pending"
    broker_resume(actor=actor, broker="down", reason="maintenance over")
    assert relay.relay_once() == 1 and venue.calls == [("submit", order.pk)]
    control = BrokerControl.objects.get(broker="down")
    entries = LogEntry.objects.get_for_object(control).order_by("id")
    assert [e.changes_dict.get("paused", [None, None])[1] for e in entries] == [True, False]
    assert all(e.actor_id == actor.pk for e in entries)
