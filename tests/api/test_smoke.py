"""First flows through the API: log in, read, trade."""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


def test_login_and_list_accounts(world):
    from rest_framework.test import APIClient

    client = APIClient()
    bad = client.post("/api/v1/auth/token/", {"username": "api-trader", "password": "nope"}, format="json")
    assert bad.status_code == 401
    assert bad["Content-Type"] == "application/problem+json"
    tokens = client.post("/api/v1/auth/token/", {"username": "api-trader", "password": PASSWORD}, format="json")
    assert tokens.status_code == 200, tokens.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    listing = client.get("/api/v1/accounts/")
    assert listing.status_code == 200
    assert [a["id"] for a in listing.json()["results"]] == [world.account.pk]


def test_place_order(world):
    client = world.client("trader")
    response = client.post(
        "/api/v1/orders/",
        {
            "account": world.account.pk,
            "symbol": "ACME",
            "side": "buy",
            "type": "limit",
            "quantity": "10",
            "limit_price": "99.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_new" and body["quantity"] == "10" and body["limit_price"] == "99.00"
    again = client.get(f"/api/v1/orders/{body['id']}/events/")
    assert [e["kind"] for e in again.json()][:2] == ["received", "risk_accepted"]
    assert client_for(world.users["unrelated"]).get(f"/api/v1/orders/{body['id']}/").status_code == 404
    balances = client.get(f"/api/v1/accounts/{world.account.pk}/balances/").json()
    assert balances[0]["currency"] == "USD"
    ledger = client.get(f"/api/v1/accounts/{world.account.pk}/ledger/?limit=2").json()
    assert len(ledger["results"]) == 2 and ledger["next"]
    page2 = client.get(ledger["next"]).json()
    assert page2["results"] and page2["results"][0]["id"] < ledger["results"][-1]["id"]
