"""Batch order entry: ``POST /api/v1/orders/batch/``. Each order is answered as ``POST /orders/``
answers it, in request order; a malformed envelope is refused whole and changes nothing; the
order-entry throttle counts every order of a batch."""

from __future__ import annotations

import pytest

from apps.core.api.base import OrderEntryThrottle
from apps.orders.models import Order, OrderEvent
from tests.api.conftest import client_for
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/batch/"


def order(world, coid: str, **overrides):  # type: ignore[no-untyped-def]
    body = {
        "account": world.account.pk,
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "99.50",
        "time_in_force": "gtc",
        "client_order_id": coid,
    }
    body.update(overrides)
    return body


def test_each_order_is_answered_as_the_single_endpoint_answers_it_in_request_order(world):
    client = world.client("trader")
    earlier = client.post("/api/v1/orders/", order(world, "early"), format="json").json()
    stranger = TradingAccountFactory()
    batch = [
        order(world, "b-1"),  # 201
        order(world, "early"),  # 200: a replay of the earlier order
        order(world, "early", quantity="11"),  # 409
        order(world, "b-2", quantity="5000"),  # 422 from risk, the order stored
        order(world, "b-3", side="sideways"),  # 400, that order alone
        "not an order",  # 400
        order(world, "b-4", account=stranger.pk),  # 404: not an account this user may view
        order(world, "b-5", symbol="NOPE"),  # 400 from the service: unknown instrument
        order(world, "b-1"),  # 200: a replay of this batch's first order
    ]
    before = Order.objects.count()
    response = client.post(URL, {"orders": batch}, format="json")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 409, 422, 400, 400, 404, 400, 200]
    accepted = results[0]["order"]
    assert (accepted["client_order_id"], accepted["status"]) == ("b-1", "pending_new")
    assert results[1]["order"] == client.get(f"/api/v1/orders/{earlier['id']}/").json()
    assert results[2]["problem"]["code"] == "duplicate_client_order_id"
    assert results[2]["problem"]["order_id"] == earlier["id"]
    rejected = results[3]["problem"]
    stored = Order.objects.get(pk=rejected["order_id"])
    assert (stored.status, stored.reject_reason) == ("rejected", rejected["code"])
    assert rejected["title"] == "Order rejected" and rejected["type"].endswith(rejected["code"])
    assert results[4]["problem"]["code"] == "invalid" and "side" in results[4]["problem"]["errors"]
    assert results[5]["problem"]["errors"] == {"non_field_errors": ["Expected an object."]}
    assert results[6]["problem"]["code"] == "account_not_found"
    unknown = client.post("/api/v1/orders/", order(world, "b-5", symbol="NOPE"), format="json")
    assert (unknown.status_code, unknown.json()) == (400, results[7]["problem"])
    assert results[8]["order"]["id"] == accepted["id"]
    assert Order.objects.count() == before + 2
    assert not OrderEvent.objects.filter(order__client_order_id__in=["b-3", "b-4", "b-5"]).exists()

    single = client.post("/api/v1/orders/", order(world, "early", quantity="11"), format="json")
    assert (single.status_code, single.json()) == (409, results[2]["problem"])


def test_an_account_the_user_may_only_view_is_403_per_order(world):
    response = world.client("viewer").post(URL, {"orders": [order(world, "v-1")]}, format="json")
    (result,) = response.json()["results"]
    assert (result["status"], result["problem"]["code"]) == (403, "trade_not_permitted")
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "envelope",
    [
        {},
        {"orders": []},
        {"orders": "all of them"},
        {"orders": [{}], "extra": 1},
        None,
    ],
    ids=["missing", "empty", "not a list", "unknown field", "not an object"],
)
def test_a_malformed_envelope_is_400_and_places_nothing(world, envelope):
    response = world.client("trader").post(URL, envelope, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] in {"invalid", "parse_error"}
    assert not Order.objects.exists()


def test_more_than_500_orders_is_400_and_places_nothing(world):
    batch = [order(world, f"many-{i}", quantity="1") for i in range(501)]
    response = world.client("trader").post(URL, {"orders": batch}, format="json")
    assert response.status_code == 400
    assert "orders" in response.json()["errors"]
    assert not Order.objects.exists()


def test_anonymous_is_401(world):
    response = client_for(None).post(URL, {"orders": [order(world, "a-1")]}, format="json")
    assert response.status_code == 401
    assert not Order.objects.exists()


def test_the_order_throttle_counts_every_order_of_a_batch(world, monkeypatch):
    monkeypatch.setattr(OrderEntryThrottle, "THROTTLE_RATES", {"orders": "5/min"})
    client = world.client("trader")
    first = client.post(URL, {"orders": [order(world, f"t-{i}", quantity="1") for i in range(3)]}, format="json")
    assert [r["status"] for r in first.json()["results"]] == [201, 201, 201]
    over = client.post(URL, {"orders": [order(world, f"u-{i}", quantity="1") for i in range(3)]}, format="json")
    assert over.status_code == 429 and over.json()["code"] == "throttled"
    assert not Order.objects.filter(client_order_id__startswith="u-").exists()
    assert client.post("/api/v1/orders/", order(world, "s-1", quantity="1"), format="json").status_code == 201
    assert client.post(URL, {"orders": [order(world, "s-2", quantity="1")]}, format="json").status_code == 200
    assert client.post("/api/v1/orders/", order(world, "s-3", quantity="1"), format="json").status_code == 429
    assert Order.objects.count() == 5


@pytest.mark.parametrize("size", [1, 40])  # the firm allows 50 orders a second
def test_a_batch_takes_the_same_queries_whatever_its_size(world, size, django_assert_max_num_queries):
    client = world.client("trader")
    client.post(URL, {"orders": [order(world, "warm", quantity="1")]}, format="json")  # opens the position rows
    batch = [order(world, f"q-{i}", quantity="1") for i in range(size)]
    with django_assert_max_num_queries(21):  # the user, visibility, then the placement's constant statements
        response = client.post(URL, {"orders": batch}, format="json")
    assert [r["status"] for r in response.json()["results"]] == [201] * size


def test_the_schema_documents_the_batch_with_an_example(world):
    schema = world.client("trader").get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/orders/batch/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["examples"]
    assert "200" in operation["responses"] and "429" in operation["responses"]
