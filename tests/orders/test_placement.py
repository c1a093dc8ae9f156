"""Placing orders through the service: validation, risk, holds, timeline, outbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers.models import OrderInstruction
from apps.core.errors import ApplicationError
from apps.ledger import services as ledger
from apps.ledger.models import Purpose
from apps.ledger.verification import verify
from apps.orders.models import Order, OrderEvent
from apps.orders.placement import order_place
from tests.conftest import balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="rich")
    return account


def place(actor, account, **kwargs):
    params = {
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "100.00",
        "time_in_force": "day",
    }
    params.update(kwargs)
    return order_place(actor=actor, account=account, **params)


def test_accepted_buy_holds_cost_plus_fee_and_queues_the_order(rich, instrument, actor):
    order = place(actor, rich, client_order_id="c-1")
    assert (order.status, order.reject_reason, order.broker) == ("pending_new", "", "paper")
    # 10 x 100.00 plus the commission estimate max(10 x 0.005, 1.00)
    assert order.hold.amount == Decimal("1001.00")
    assert balance(rich) == Decimal("48999.00")
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("1001.00")
    kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == ["received", "risk_accepted"]
    accepted = OrderEvent.objects.get(order=order, kind="risk_accepted")
    codes = {c["code"] for c in accepted.data["checks"]}
    assert {"trading_halted", "insufficient_buying_power", "price_collar", "max_order_notional"} <= codes
    assert accepted.data["reference_price"] == "100.00000000"
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.action, instruction.status, instruction.broker) == ("submit", "pending", "paper")
    assert verify().ok


def test_same_client_order_id_same_terms_returns_the_order(rich, instrument, actor):
    first = place(actor, rich, client_order_id="dup")
    again = place(actor, rich, client_order_id="dup")
    assert again.pk == first.pk and again.replayed
    assert Order.objects.count() == 1
    assert balance(rich, Purpose.CASH_RESERVED) == Decimal("1001.00")


def test_same_client_order_id_other_terms_is_a_conflict(rich, instrument, actor):
    place(actor, rich, client_order_id="dup")
    with pytest.raises(ApplicationError) as info:
        place(actor, rich, client_order_id="dup", quantity="11")
    assert info.value.code == "duplicate_client_order_id" and info.value.status == 409
    assert Order.objects.count() == 1


def test_client_order_id_is_generated_when_missing(rich, instrument, actor):
    a, b = place(actor, rich), place(actor, rich)
    assert a.client_order_id and b.client_order_id and a.client_order_id != b.client_order_id


def test_sell_holds_shares_and_insufficient_shares_is_rejected_and_stored(rich, instrument, actor):
    order = place(actor, rich, side="sell", quantity="5")
    assert (order.status, order.reject_reason) == ("rejected", "insufficient_position")
    assert order.hold is None
    assert list(order.events.values_list("kind", flat=True)) == ["received", "risk_rejected"]
    assert not OrderInstruction.objects.filter(order=order).exists()


def test_buying_power_is_exact(account, instrument, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="1001.00", idempotency_key="d")
    ok = place(actor, account)
    refused = place(actor, account, quantity="1", limit_price="99.00")
    assert ok.status == "pending_new"
    assert (refused.status, refused.reject_reason) == ("rejected", "insufficient_buying_power")
    assert balance(account) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"side": "hold"}, "side"),
        ({"type": "iceberg"}, "type"),
        ({"time_in_force": "gtd"}, "time_in_force"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),  # lot size 1
        ({"limit_price": "100.001"}, "limit_price"),  # tick 0.01
        ({"limit_price": None}, "limit_price"),  # a limit order needs one
        ({"type": "market"}, "limit_price"),  # a market order takes none
        ({"stop_price": "99.00"}, "stop_price"),  # a limit order takes no stop
        ({"type": "stop", "limit_price": None}, "stop_price"),
        ({"client_order_id": "x" * 65}, "client_order_id"),
        ({"symbol": "NOPE"}, "symbol"),
    ],
)
def test_malformed_orders_raise_and_store_nothing(rich, instrument, actor, kwargs, field):
    with pytest.raises(ApplicationError) as info:
        place(actor, rich, **kwargs)
    assert info.value.status == 400
    assert info.value.extra.get("field") == field
    assert not Order.objects.exists()
    assert balance(rich, Purpose.CASH_RESERVED) == 0


def test_unknown_account_raises_not_found(instrument, actor):
    with pytest.raises(ApplicationError) as info:
        place(actor, 999_999)
    assert info.value.code == "unknown_account" and info.value.status == 404
    assert not Order.objects.exists()


def test_place_order_query_count(rich, instrument, actor, django_assert_max_num_queries):
    place(actor, rich)  # warm: ledger accounts exist
    with django_assert_max_num_queries(15 + 2):  # + SAVEPOINT/RELEASE of the test's own transaction
        order = place(actor, rich)
    assert order.status == "pending_new"


def test_the_database_refuses_unknown_order_states_and_terms(rich, instrument, actor):
    from django.db import IntegrityError, connection, transaction

    order = place(actor, rich)
    for column, value in (("status", "bogus"), ("side", "lend"), ("type", "iceberg"), ("time_in_force", "gtx")):
        refused = pytest.raises(IntegrityError, match="violates check constraint")
        with refused, transaction.atomic(), connection.cursor() as c:
            c.execute(f"UPDATE orders_order SET {column} = %s WHERE id = %s", [value, order.pk])
    order.refresh_from_db()
    assert (order.status, order.side, order.type, order.time_in_force) == ("pending_new", "buy", "limit", "day")
