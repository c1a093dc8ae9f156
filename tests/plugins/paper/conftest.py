"""Paper broker fixtures: an instrument with a reference price, a fixed clock, ticket makers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.brokers.interface import OrderTicket
from apps.instruments.services import instrument_create, reference_price_set
from plugins.paper.adapter import PaperBroker
from plugins.paper.config import PaperSettings
from tests.brokers.contract import ticket_maker

T0 = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)  # a Monday


class Clock:
    """A settable clock; ``tick()`` moves it on by a second."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def acme(actor):
    instrument = instrument_create(
        actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
    )
    reference_price_set(actor=actor, instrument=instrument, price="100.00", as_of=T0)
    return instrument


@pytest.fixture
def set_price(actor, clock):
    def set_price(instrument, price: str, as_of=None):  # type: ignore[no-untyped-def]
        reference_price_set(actor=actor, instrument=instrument, price=price, as_of=as_of or clock.now)

    return set_price


class AcknowledgingPaperBroker(PaperBroker):
    """The paper broker as the host drives it: every report it hands out is acknowledged at once
    (the intake records it), so ``poll`` answers only what is new. The matching-rule tests use
    it; redelivery until acknowledgement is the adapter contract's business (test_contract.py)."""

    def _acknowledged(self, reports):  # type: ignore[no-untyped-def]
        reports = list(reports)
        self.acknowledge([r.exec_id for r in reports])
        return reports

    def submit(self, ticket):  # type: ignore[no-untyped-def]
        return self._acknowledged(super().submit(ticket))

    def cancel(self, ticket):  # type: ignore[no-untyped-def]
        return self._acknowledged(super().cancel(ticket))

    def replace(self, ticket, request):  # type: ignore[no-untyped-def]
        return self._acknowledged(super().replace(ticket, request))

    def poll(self):  # type: ignore[no-untyped-def]
        return self._acknowledged(super().poll())


@pytest.fixture
def make_broker(clock):
    def make(**settings: object) -> PaperBroker:
        return AcknowledgingPaperBroker(PaperSettings.parse(settings), clock=clock)

    return make


@pytest.fixture
def broker(make_broker):
    return make_broker()


@pytest.fixture
def ticket():
    """``ticket(**overrides)``: a market DAY buy of 100 ACME; order ids 1, 2, 3..."""
    return ticket_maker(
        OrderTicket(
            order_id=0,
            client_order_id="",
            account_number="ACC-1",
            symbol="ACME",
            side="buy",
            order_type="market",
            quantity=Decimal("100"),
            time_in_force="day",
        )
    )
