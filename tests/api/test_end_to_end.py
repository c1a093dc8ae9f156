"""The API end to end, as outside programs use it: operations open an account, fund it and
grant a trader; the trader places a limit buy; operations move the price; a real Celery worker
on a real broker routes the order to the paper broker and books the fill; the trader sees the
fill, the position, the balances and the ledger lines. Only HTTP calls, except that the test
plays Celery beat (it sends the relay and the poll to the worker)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from apps.brokers.tasks import poll_task, relay_task
from apps.users.roles import OPERATIONS
from tests.factories import UserFactory
from tests.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def logged_in(username: str) -> APIClient:
    client = APIClient()
    tokens = client.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    assert tokens.status_code == 200, tokens.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    return client


def ok(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content)
    return response.json() if response.content else None


def wait_for_status(client: APIClient, order_id: int, *statuses: str, seconds: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        order = ok(client.get(f"/api/v1/orders/{order_id}/"), 200)
        if order["status"] in statuses:
            return order
        time.sleep(0.1)
    events = ok(client.get(f"/api/v1/orders/{order_id}/events/"), 200)
    pytest.fail(f"order {order_id} is {order['status']}, expected {statuses}; events {[e['kind'] for e in events]}")


def test_account_to_fill_through_the_api(instrument, tmp_path: Path):
    ops_user = UserFactory(username="e2e-ops")
    Group.objects.get(name=OPERATIONS).user_set.add(ops_user)
    UserFactory(username="e2e-client")
    UserFactory(username="e2e-trader")
    ops = logged_in("e2e-ops")

    account = ok(
        ops.post(
            "/api/v1/accounts/", {"name": "E2E Fund", "base_currency": "USD", "owner": "e2e-client"}, format="json"
        ),
        201,
    )
    deposit = {"currency": "USD", "amount": "10000.00", "idempotency_key": "e2e-deposit-1"}
    first = ok(ops.post(f"/api/v1/accounts/{account['id']}/deposits/", deposit, format="json"), 201)
    again = ok(ops.post(f"/api/v1/accounts/{account['id']}/deposits/", deposit, format="json"), 200)
    assert again["transaction_id"] == first["transaction_id"]
    grant = {"username": "e2e-trader", "permissions": ["trade"]}
    assert ok(ops.post(f"/api/v1/accounts/{account['id']}/grants/", grant, format="json"), 201)["permissions"] == [
        "view",
        "trade",
    ]

    trader = logged_in("e2e-trader")
    order_body = {
        "account": account["id"],
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "99.00",
        "time_in_force": "gtc",
        "client_order_id": "e2e-1",
    }
    order = ok(trader.post("/api/v1/orders/", order_body, format="json"), 201)
    assert order["status"] == "pending_new"
    assert ok(trader.post("/api/v1/orders/", order_body, format="json"), 200)["id"] == order["id"]

    with running_worker(tmp_path) as worker:
        worker.send(relay_task)  # what beat's safety net does every few seconds
        wait_for_status(trader, order["id"], "new")  # resting: the price (100.00) is above the limit
        ok(ops.post("/api/v1/instruments/ACME/prices/", {"price": "98.50"}, format="json"), 201)
        worker.send(poll_task)  # a price change triggers the poll; the test process cannot
        filled = wait_for_status(trader, order["id"], "filled")

    fills = ok(trader.get(f"/api/v1/fills/?order={order['id']}"), 200)["results"]
    assert len(fills) == 1
    fill = fills[0]
    price, fee = Decimal(fill["price"]), Decimal(fill["fee"])
    assert Decimal(fill["quantity"]) == 10 and price <= Decimal("99.00") and fee > 0
    assert Decimal(filled["average_fill_price"]) == price and filled["filled_quantity"] == "10"

    (position,) = ok(trader.get(f"/api/v1/accounts/{account['id']}/positions/"), 200)
    assert position["symbol"] == "ACME" and position["quantity"] == "10" and position["available"] == "10"
    assert Decimal(position["market_price"]) == Decimal("98.50")
    assert Decimal(position["market_value"]) == Decimal("985.00")
    cost = 10 * price + fee
    assert Decimal(position["average_cost"]) * 10 == cost
    assert Decimal(position["unrealized_pnl"]) == Decimal("985.00") - cost

    (usd,) = ok(trader.get(f"/api/v1/accounts/{account['id']}/balances/"), 200)
    assert usd == {
        "currency": "USD",
        "available": f"{Decimal('10000.00') - cost:.2f}",
        "reserved": "0.00",
        "total": f"{Decimal('10000.00') - cost:.2f}",
    }

    lines = ok(trader.get(f"/api/v1/accounts/{account['id']}/ledger/"), 200)["results"]
    kinds = {(line["kind"], line["asset"], line["purpose"]) for line in lines}
    assert ("deposit", "USD", "cash_available") in kinds
    assert ("fill", "ACME", "position_available") in kinds
    cash_lines = [line for line in lines if line["asset"] == "USD" and line["purpose"] == "cash_available"]
    assert cash_lines[0]["balance_after"] == usd["available"]  # newest first
    assert sum(Decimal(line["amount"]) for line in cash_lines) == Decimal(usd["available"])
