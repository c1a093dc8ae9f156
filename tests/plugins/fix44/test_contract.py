"""The FIX adapter passes the broker adapter contract (the same suite as the paper broker),
over a real session to the local venue: the adapter built through the registry and attached to
a running gateway's session, the venue pricing the contract's symbol."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers import registry
from apps.brokers.interface import OrderTicket
from apps.instruments.services import instrument_create, reference_price_set
from plugins.fix44.gateway import Gateway
from plugins.fix44.venue import Venue
from tests.brokers.contract import AdapterContract, ticket_maker
from tests.plugins.fix44.test_gateway import eventually, free_port, prices

pytestmark = pytest.mark.django_db(transaction=True)

BASE = OrderTicket(
    order_id=0,
    client_order_id="",
    account_number="FIX-ACC",
    symbol="FIXC",
    side="buy",
    order_type="market",
    quantity=Decimal("10"),
    time_in_force="day",
)


class QuietGateway(Gateway):
    """The gateway's session without its relay and intake loops: the contract drives the adapter
    itself (submit, poll, acknowledge), as the host would, and nothing else books behind it."""

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()
        self.adapter.link = None


@pytest.fixture
def adapter(settings, actor, tmp_path):  # type: ignore[no-untyped-def]
    instrument = instrument_create(
        actor=actor, symbol="FIXC", name="Fix Co", currency="USD", tick_size="0.01", lot_size="1"
    )
    reference_price_set(actor=actor, instrument=instrument, price="100.00")
    port = free_port()
    settings.BROKERS = {
        "fix44": {
            "port": str(port),
            "data_dir": str(tmp_path / "gw"),
            "heartbeat_seconds": "1",
            "reconnect_seconds": "1",
        }
    }
    venue = Venue(port=port, data_dir=tmp_path / "venue", markets=prices, sweep_seconds=0.05)
    venue.start()
    gateway = QuietGateway("fix44", on_fatal=lambda exc: None)
    gateway.start()
    try:
        eventually(gateway.link.logged_on.is_set)
        yield registry.get_adapter("fix44")
    finally:
        gateway.stop()
        venue.stop()


@pytest.fixture
def make_ticket():  # type: ignore[no-untyped-def]
    return ticket_maker(BASE, first_id=5000)


@pytest.fixture
def make_resting_ticket():  # type: ignore[no-untyped-def]
    make = ticket_maker(BASE, first_id=9000)
    return lambda **overrides: make(
        **{"order_type": "limit", "limit_price": Decimal("50.00"), "time_in_force": "gtc", **overrides}
    )


class TestFixContract(AdapterContract):
    pass
