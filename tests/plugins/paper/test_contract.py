"""The paper plugin passes the adapter contract, built through the registry with its defaults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers import registry
from apps.brokers.interface import OrderTicket
from apps.instruments.services import instrument_create, reference_price_set
from tests.brokers.contract import AdapterContract, ticket_maker

pytestmark = pytest.mark.django_db

BASE = OrderTicket(
    order_id=0,
    client_order_id="",
    account_number="PAPER-ACC",
    symbol="PAPC",
    side="buy",
    order_type="market",
    quantity=Decimal("10"),
    time_in_force="day",
)


@pytest.fixture
def paper_settings():
    return {}


@pytest.fixture
def adapter(settings, actor, paper_settings):
    instrument = instrument_create(
        actor=actor, symbol="PAPC", name="Paper Co", currency="USD", tick_size="0.01", lot_size="1"
    )
    reference_price_set(actor=actor, instrument=instrument, price="100.00")
    settings.BROKERS = {"paper": paper_settings}
    return registry.get_adapter("paper")


@pytest.fixture
def make_ticket():
    return ticket_maker(BASE, first_id=5000)


@pytest.fixture
def make_resting_ticket():
    make = ticket_maker(BASE, first_id=9000)
    return lambda **overrides: make(
        **{"order_type": "limit", "limit_price": Decimal("50.00"), "time_in_force": "gtc", **overrides}
    )


class TestPaperContract(AdapterContract):
    pass


class TestPaperContractWithPartialFillsAndSlippage(AdapterContract):
    """The same contract when orders fill in slices over several polls."""

    @pytest.fixture
    def paper_settings(self):
        return {"partial_fill_quantity": "3", "slippage_bps": "25", "max_price_age_seconds": "3600"}
