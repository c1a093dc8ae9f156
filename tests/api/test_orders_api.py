"""Order entry through the API: accepted, replayed, conflicting, rejected by risk, canceled,
replaced, listed and filtered."""

from __future__ import annotations

import pytest

from apps.brokers.models import OrderInstruction
from apps.orders.models import Order
from apps.risk.services import trading_state_set

pytestmark = pytest.mark.django_db


def order_body(world, **overrides):
    body = {
        "account": world.account.pk,
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "99.50",
        "time_in_force": "gtc",
        "client_order_id": "c-1",
    }
    body.update(overrides)
    return body


def test_accepted_order_answers_201_with_every_field(world):
    response = world.client("trader").post("/api/v1/orders/", order_body(world), format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {
        "id", "account", "client_order_id", "symbol", "side", "type", "quantity", "limit_price", "stop_price",
        "time_in_force", "status", "filled_quantity", "average_fill_price", "reject_reason", "created_at", "updated_at",
    }  # fmt: skip
    assert (body["status"], body["filled_quantity"], body["average_fill_price"], body["stop_price"]) == (
        "pending_new",
        "0",
        None,
        None,
    )
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == len("2026-01-01T00:00:00.000000Z")


def test_same_client_order_id_and_body_replays_with_200(world):
    client = world.client("trader")
    first = client.post("/api/v1/orders/", order_body(world), format="json")
    again = client.post("/api/v1/orders/", order_body(world), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Order.objects.filter(account=world.account).count() == 1


def test_same_client_order_id_with_another_body_is_a_409_conflict(world):
    client = world.client("trader")
    first = client.post("/api/v1/orders/", order_body(world), format="json").json()
    conflict = client.post("/api/v1/orders/", order_body(world, quantity="11"), format="json")
    assert conflict.status_code == 409
    assert conflict["Content-Type"] == "application/problem+json"
    assert conflict.json()["code"] == "duplicate_client_order_id"
    assert conflict.json()["order_id"] == first["id"]
    assert Order.objects.filter(account=world.account).count() == 1


def test_risk_rejection_is_422_with_reason_and_the_stored_order(world):
    client = world.client("trader")
    response = client.post("/api/v1/orders/", order_body(world, quantity="5000"), format="json")
    assert response.status_code == 422
    problem = response.json()
    stored = Order.objects.get(pk=problem["order_id"])
    assert stored.status == "rejected" and stored.reject_reason == problem["code"]
    assert problem["code"] in {"insufficient_buying_power", "max_order_quantity", "max_order_notional"}
    replay = client.post("/api/v1/orders/", order_body(world, quantity="5000"), format="json")
    assert (replay.status_code, replay.json()["order_id"]) == (422, stored.pk)
    assert client.get(f"/api/v1/orders/{stored.pk}/").json()["reject_reason"] == problem["code"]


def test_halted_account_rejects_with_trading_halted(world):
    trading_state_set(actor=world.users["compliance"], state="halted", reason="test", account=world.account)
    response = world.client("trader").post("/api/v1/orders/", order_body(world), format="json")
    assert (response.status_code, response.json()["code"]) == (422, "trading_halted")


def test_cancel_is_202_then_idempotent_and_a_terminal_order_is_not_cancelable(world):
    client = world.client("trader")
    order = client.post("/api/v1/orders/", order_body(world), format="json").json()
    OrderInstruction.objects.filter(order_id=order["id"]).update(status="done")  # at the venue
    first = client.delete(f"/api/v1/orders/{order['id']}/")
    again = client.delete(f"/api/v1/orders/{order['id']}/")
    assert (first.status_code, first.json()["status"]) == (202, "pending_cancel")
    assert (again.status_code, again.json()["status"]) == (202, "pending_cancel")
    unsent = client.post("/api/v1/orders/", order_body(world, client_order_id="c-3"), format="json").json()
    gone = client.delete(f"/api/v1/orders/{unsent['id']}/")  # still in the outbox: canceled here at once
    assert (gone.status_code, gone.json()["status"]) == (202, "canceled")
    rejected = client.post("/api/v1/orders/", order_body(world, quantity="5000", client_order_id="c-2"), format="json")
    refused = client.delete(f"/api/v1/orders/{rejected.json()['order_id']}/")
    assert (refused.status_code, refused.json()["code"]) == (422, "order_not_cancelable")
    kinds = [e["kind"] for e in client.get(f"/api/v1/orders/{order['id']}/events/").json()]
    assert kinds.count("cancel_requested") == 1


def test_replace_before_the_venue_acknowledged_is_refused(world):
    client = world.client("trader")
    order = client.post("/api/v1/orders/", order_body(world), format="json").json()
    response = client.patch(f"/api/v1/orders/{order['id']}/", {"quantity": "5"}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "order_not_replaceable")
    assert Order.objects.get(pk=order["id"]).quantity == 10


def test_replace_of_an_acknowledged_order(world):
    from apps.orders.models import Order as OrderModel

    client = world.client("trader")
    order = client.post("/api/v1/orders/", order_body(world), format="json").json()
    OrderModel.objects.filter(pk=order["id"]).update(status="new", broker_order_id="V-1")
    response = client.patch(f"/api/v1/orders/{order['id']}/", {"limit_price": "98.00"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending_replace"
    too_big = client.patch(f"/api/v1/orders/{order['id']}/", {"quantity": "100000"}, format="json")
    assert too_big.status_code == 422


def test_list_filters_and_cursor_pagination(world):
    client = world.client("trader")
    for i in range(5):
        side = "buy" if i % 2 == 0 else "sell"
        body = order_body(world, client_order_id=f"list-{i}", side=side)
        if side == "sell":
            body = order_body(world, client_order_id=f"list-{i}", quantity="99999")  # rejected by risk
        client.post("/api/v1/orders/", body, format="json")
    page = client.get("/api/v1/orders/?limit=2").json()
    assert len(page["results"]) == 2 and page["next"] and page["previous"] is None
    ids = [o["id"] for o in page["results"]]
    rest = client.get(page["next"]).json()
    assert all(o["id"] < min(ids) for o in rest["results"])
    rejected = client.get("/api/v1/orders/?status=rejected").json()["results"]
    assert rejected and {o["status"] for o in rejected} == {"rejected"}
    both = client.get("/api/v1/orders/?status=rejected&status=pending_new").json()["results"]
    assert len(both) == 5
    assert client.get("/api/v1/orders/?symbol=NOPE").json()["results"] == []
    assert client.get(f"/api/v1/orders/?account={world.other_account.pk}").json()["results"] == []
    newest = max(o["created_at"] for o in both)
    assert client.get(f"/api/v1/orders/?created_after={newest}").json()["results"][0]["created_at"] == newest
