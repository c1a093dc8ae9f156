"""The dummy plugin passes the adapter contract (it is the contract's executable spec)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers import registry
from apps.brokers.interface import OrderTicket
from tests.brokers.contract import AdapterContract, ticket_maker
from tests.plugins.dummy.plugin import spec

BASE = OrderTicket(
    order_id=0,
    client_order_id="",
    account_number="DUMMY-ACC",
    symbol="ACME",
    side="buy",
    order_type="market",
    quantity=Decimal("10"),
    time_in_force="day",
)


@pytest.fixture
def adapter(settings):
    settings.BROKERS = {**settings.BROKERS, "dummy": {}}
    with registry.registered(spec):
        yield registry.get_adapter("dummy")


@pytest.fixture
def make_ticket():
    return ticket_maker(BASE)


@pytest.fixture
def make_resting_ticket():
    return lambda **overrides: None


class TestDummyContract(AdapterContract):
    pass
