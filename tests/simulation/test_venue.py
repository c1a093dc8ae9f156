"""The simulated venue keeps its own promises: it passes the adapter contract when calm, and
whatever faults it is given, every order's reports read as a FIX venue's would (cumulative
quantities add up, nothing after the end, never overfilled), its fills stay inside the model
(buys never above the limit, sells never below, fees never above the estimate), and what it
hands out is what it logged."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.brokers import registry
from apps.brokers.interface import FILL_TYPES, BrokerError, OrderTicket, PluginSpec, ReplaceRequest
from apps.simulation.steps import faults_for
from apps.simulation.venue import FEE_PER_SHARE, NAME, Faults, SimVenue
from tests.brokers.contract import AdapterContract, check_history, ticket_maker

BASE = OrderTicket(
    order_id=0,
    client_order_id="",
    account_number="SIM-ACC",
    symbol="ACME",
    side="buy",
    order_type="market",
    quantity=Decimal("10"),
    time_in_force="day",
)


def clock() -> datetime:
    return datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class TestSimVenueContract(AdapterContract):
    @pytest.fixture
    def adapter(self, settings):
        venue = SimVenue(clock=clock, prices={"ACME": Decimal("100.00")}, faults=Faults(fill_on_entry=1.0, partial=0))
        settings.BROKERS = {NAME: {}}
        with registry.registered(PluginSpec(name=NAME, factory=lambda _settings: venue)):
            yield registry.get_adapter(NAME)

    @pytest.fixture
    def make_ticket(self):
        return ticket_maker(BASE)

    @pytest.fixture
    def make_resting_ticket(self):
        make = ticket_maker(BASE, first_id=500_000)
        return lambda **overrides: make(order_type="limit", limit_price=Decimal("50.00"), **overrides)


def _random_session(seed: int) -> SimVenue:
    """Random calls and venue actions against a venue with the seed's faults."""
    rng = random.Random(seed)
    venue = SimVenue(clock=clock, prices={"ACME": Decimal("100.00")}, faults=faults_for(seed))
    tickets: dict[int, OrderTicket] = {}
    for n in range(150):
        venue.reseed(rng.randrange(2**31))
        roll = rng.random()
        try:
            if roll < 0.3 or not tickets:
                order_id = len(tickets) + 1
                kind = rng.choice(["market", "limit", "stop", "stop_limit"])
                ticket = replace(
                    BASE,
                    order_id=order_id,
                    request_id=str(order_id),
                    side=rng.choice(["buy", "sell"]),
                    order_type=kind,
                    time_in_force=rng.choice(["day", "gtc", "ioc", "fok"]),
                    quantity=Decimal(rng.randint(1, 20)),
                    limit_price=Decimal(rng.randint(95, 105)) if kind in ("limit", "stop_limit") else None,
                    stop_price=Decimal(rng.randint(95, 105)) if kind in ("stop", "stop_limit") else None,
                )
                tickets[order_id] = ticket
                venue.submit(ticket)
            elif roll < 0.4:
                ticket = tickets[rng.choice(list(tickets))]
                venue.cancel(replace(ticket, request_id=f"{ticket.order_id}-c{n}"))
            elif roll < 0.5:
                ticket = tickets[rng.choice(list(tickets))]
                new = ReplaceRequest(quantity=Decimal(rng.randint(1, 25)), limit_price=ticket.limit_price)
                venue.replace(replace(ticket, request_id=f"{ticket.order_id}-r{n}"), new)
            elif roll < 0.6:
                venue.prices["ACME"] = Decimal(rng.randint(94, 106))
                venue.trigger_stops()
            elif roll < 0.75 and venue.working():
                venue.fill_some(rng.choice(venue.working()).ticket.order_id, forced=rng.random() < 0.5)
            elif roll < 0.8:
                venue.answer_deferred(rng.randrange(100))
            elif roll < 0.85 and venue.working():
                venue.cancel_unsolicited(rng.choice(venue.working()).ticket.order_id)
            elif roll < 0.9:
                venue.restart()
            else:
                polled = venue.poll()
                venue.acknowledge([r.exec_id for r in polled if rng.random() < 0.8])
        except BrokerError:
            pass
        except (RuntimeError, ConnectionResetError):
            pass  # an unexpected error, on purpose
    return venue


@pytest.mark.parametrize("seed", range(1, 31))
def test_whatever_the_faults_every_order_reads_as_a_venues_would(seed):
    venue = _random_session(seed)
    for order_id, order in venue.orders.items():
        history = [r for r in venue.log if r.order_id == order_id]
        check_history(order.ticket, history)  # the contract's own rules: CumQty, leaves, nothing after the end
        fills = [r for r in history if r.exec_type in FILL_TYPES]
        assert sum(r.last_quantity for r in fills) == order.cumulative
        for fill in fills:
            limit = fill.limit_price if order.ticket.order_type in ("limit", "stop_limit") else None
            if limit is not None:
                assert fill.last_price <= limit if order.ticket.side == "buy" else fill.last_price >= limit
            assert fill.fee <= (fill.last_quantity * FEE_PER_SHARE)
    assert len({r.exec_id for r in venue.log}) == len(venue.log), "exec ids are unique"
    assert set(venue.unacked) | venue.dropped | venue.acknowledged <= {r.exec_id for r in venue.log}
    assert not venue.misuse  # this session never resends an answered request


def test_a_request_sent_again_after_its_answer_is_recorded_as_misuse():
    venue = SimVenue(clock=clock, prices={"ACME": Decimal("100.00")}, faults=Faults(fill_on_entry=0))
    ticket = replace(BASE, order_id=1, request_id="1", order_type="limit", limit_price=Decimal("90"))
    venue.submit(ticket)
    cancel = replace(ticket, request_id="1-2")
    venue.cancel(cancel)
    assert venue.misuse == []
    venue.cancel(cancel)
    venue.submit(ticket)
    assert venue.misuse == [
        "order 1: request 1-2 sent again after its answer",
        "order 1 submitted twice (request 1)",
    ]


def test_a_restart_keeps_the_book_and_loses_what_was_not_delivered():
    venue = SimVenue(clock=clock, prices={"ACME": Decimal("100.00")}, faults=Faults(fill_on_entry=0))
    ticket = replace(BASE, order_id=1, request_id="1", order_type="limit", limit_price=Decimal("90"))
    venue.submit(ticket)
    venue.fill_some(1, forced=True, quantity=Decimal(4))
    venue.restart()
    assert venue.poll() == []
    assert [o.cumulative_quantity for o in venue.open_orders()] == [Decimal(4)]
    assert [r.exec_type for r in venue.order_status(ticket)] == ["new", "partial_fill"]
