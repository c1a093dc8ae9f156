"""A broker whose plugin relays its own instructions (a FIX gateway holds the session): the
workers' relay leaves its instructions alone, its gateway's relay takes only them."""

from __future__ import annotations

import pytest

from apps.brokers import registry, relay, resync
from apps.brokers.interface import PluginSpec
from apps.brokers.models import AccountRoute, OrderInstruction
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from tests.plugins.dummy.plugin import DummyBroker

pytestmark = pytest.mark.django_db


class GatewayBroker(DummyBroker):
    name = "gated"


@pytest.fixture
def gated(settings, account, actor, instrument, make_account):
    spec = PluginSpec(
        name="gated", factory=GatewayBroker, default_settings={"price": "100.00", "fee": "1.00"}, own_relay=True
    )
    with registry.registered(spec):
        settings.BROKERS = {**settings.BROKERS, "gated": {}}
        AccountRoute.objects.create(account=account, broker="gated")
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="g")
        yield spec


def place(actor, account, coid):
    return order_place(
        actor=actor, account=account, symbol="ACME", side="buy", type="market", quantity="1", client_order_id=coid
    )


def test_the_workers_relay_leaves_an_own_relay_brokers_instructions_alone(gated, actor, account):
    order = place(actor, account, "g-1")
    assert registry.own_relay_brokers() == ["gated"]
    assert relay.relay_once() == 0
    assert OrderInstruction.objects.get(order=order).status == "pending"
    assert relay.relay_once(broker="gated") == 1
    order.refresh_from_db()
    assert OrderInstruction.objects.get(order=order).status == "done"
    assert order.status == "filled"


def test_a_gateways_relay_takes_only_its_own_brokers_instructions(gated, actor, account, make_account):
    other = make_account()
    ledger.cash_deposit(actor=actor, trading_account=other, currency="USD", amount="5000", idempotency_key="o")
    paper_order = place(actor, other, "p-1")
    assert paper_order.broker == "paper"
    assert relay.relay_once(broker="gated") == 0
    assert OrderInstruction.objects.get(order=paper_order).status == "pending"


def test_the_beat_resync_leaves_an_own_relay_broker_to_its_gateway(gated, actor, account, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(resync, "resync_broker", lambda name, **kw: asked.append(name) or 0)
    resync.resync_brokers()
    assert "gated" not in asked and "paper" in asked
