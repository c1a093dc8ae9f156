"""The relay's cost in statements: new orders go to the broker, come back and are booked (their
NEW and FILL reports recorded, holds captured and released, fills, positions, timeline) in a
number of statements that does not depend on how many orders the batch holds."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.brokers import relay
from apps.core.actors import system_actor
from apps.ledger import services as ledger
from apps.orders.batch import OrderRequest, order_place_batch
from apps.orders.models import Order
from apps.risk.services import risk_limits_set

pytestmark = pytest.mark.django_db
_coids = itertools.count(1)


@pytest.fixture
def trader(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="1000000", idempotency_key="rs")
    risk_limits_set(actor=actor, account=account, max_orders_per_second=10000, max_open_orders=10000)
    return account


def relayed(trader, count: int) -> list[str]:
    requests = [
        OrderRequest(
            account=trader, symbol="ACME", side="buy", type="market", quantity="1", client_order_id=f"rs-{next(_coids)}"
        )
        for _ in range(count)
    ]
    assert all(p.error is None for p in order_place_batch(actor=system_actor(), requests=requests))
    with CaptureQueriesContext(connection) as captured:
        assert relay.relay_once(limit=200) == count
    assert Order.objects.filter(status="filled").count() >= count
    return [q["sql"] for q in captured.captured_queries]


def test_relaying_a_batch_of_new_orders_costs_the_same_statements_whatever_its_size(trader, instrument):
    small, large = relayed(trader, 5), relayed(trader, 40)
    # transaction ids come from their sequence 64 at a time: 80 postings may take one more block
    assert len(large) <= len(small) + 1, (len(small), len(large))
    assert len(large) <= 40  # 5 transactions: claim, venue, intake, done, circuit
