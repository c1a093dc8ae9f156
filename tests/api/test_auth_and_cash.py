"""Log-in, token refresh, failed log-in lockout, throttles, and cash movements' idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.api.base import OrderEntryThrottle
from apps.ledger.models import JournalTransaction
from tests.api.conftest import PASSWORD
from tests.conftest import balance

pytestmark = pytest.mark.django_db


def login(username, password=PASSWORD):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def test_token_pair_and_refresh(world):
    tokens = login("api-trader").json()
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get("/api/v1/accounts/").status_code == 200


def test_access_tokens_are_short_lived(world, settings):
    token = AccessToken(login("api-trader").json()["access"])
    assert 0 < token["exp"] - token["iat"] <= 15 * 60


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer ", "Token abc", "Basic YTpi"])
def test_bad_or_missing_tokens_answer_401_problems(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401 and response.json()["code"]


def test_an_expired_token_is_refused(world):
    token = AccessToken.for_user(world.users["trader"])
    token.set_exp(lifetime=-__import__("datetime").timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/v1/accounts/")
    assert (response.status_code, response.json()["code"]) == (401, "token_not_valid")


def test_an_inactive_user_cannot_log_in_or_use_an_old_token(world):
    token = AccessToken.for_user(world.users["trader"])
    world.users["trader"].is_active = False
    world.users["trader"].save()
    assert login("api-trader").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/accounts/").status_code == 401


def test_failed_log_ins_lock_the_user_name_out(world, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert login("api-trader", "wrong").status_code == 401
    locked = login("api-trader")  # even the right password
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_locked" and int(locked["Retry-After"]) > 0
    assert login("api-viewer").status_code == 200  # other users are not affected


def test_a_successful_log_in_clears_the_failures(world, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    login("api-trader", "wrong")
    login("api-trader", "wrong")
    assert login("api-trader").status_code == 200
    login("api-trader", "wrong")
    login("api-trader", "wrong")
    assert login("api-trader").status_code == 200


def test_order_entry_has_its_own_stricter_throttle(world, monkeypatch):
    monkeypatch.setattr(OrderEntryThrottle, "THROTTLE_RATES", {"orders": "2/min"})
    client = world.client("trader")
    body = {"account": world.account.pk, "symbol": "ACME", "side": "buy", "type": "limit", "limit_price": "90.00"}
    statuses = [
        client.post("/api/v1/orders/", {**body, "quantity": str(q)}, format="json").status_code for q in (1, 2, 3)
    ]
    assert statuses == [201, 201, 429]
    throttled = client.post("/api/v1/orders/", {**body, "quantity": "4"}, format="json")
    assert throttled.json()["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert client.get("/api/v1/orders/").status_code == 200  # reads are not order entry
    assert world.client("viewer").get("/api/v1/orders/").status_code == 200  # per user


def deposit(world, **body):
    data = {"currency": "USD", "amount": "250.00", "idempotency_key": "dep-1", **body}
    return world.client("operations").post(f"/api/v1/accounts/{world.account.pk}/deposits/", data, format="json")


def test_deposit_201_then_replay_200_then_conflict_409(world):
    before = balance(world.account)
    first = deposit(world)
    assert first.status_code == 201
    assert first.json()["amount"] == "250.00" and first.json()["kind"] == "deposit"
    again = deposit(world)
    assert (again.status_code, again.json()["transaction_id"]) == (200, first.json()["transaction_id"])
    conflict = deposit(world, amount="251.00")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    assert balance(world.account) == before + Decimal("250.00")


def test_withdrawal_beyond_available_cash_is_422_and_changes_nothing(world):
    before, count = balance(world.account), JournalTransaction.objects.count()
    url = f"/api/v1/accounts/{world.account.pk}/withdrawals/"
    body = {"currency": "USD", "amount": str(before + 1), "idempotency_key": "wd-1"}
    response = world.client("operations").post(url, body, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "insufficient_funds")
    assert (balance(world.account), JournalTransaction.objects.count()) == (before, count)
    ok = world.client("operations").post(url, {**body, "amount": "100.00", "idempotency_key": "wd-2"}, format="json")
    assert ok.status_code == 201 and balance(world.account) == before - 100


def test_grants_give_and_take_access(world):
    ops = world.client("operations")
    url = f"/api/v1/accounts/{world.account.pk}/grants/"
    unrelated = world.client("unrelated")
    assert unrelated.get(f"/api/v1/accounts/{world.account.pk}/").status_code == 404
    granted = ops.post(url, {"username": "api-unrelated", "permissions": ["view"]}, format="json")
    assert (granted.status_code, granted.json()["permissions"]) == (201, ["view"])
    assert unrelated.get(f"/api/v1/accounts/{world.account.pk}/").status_code == 200
    assert ops.delete(f"{url}api-unrelated/").status_code == 204
    assert unrelated.get(f"/api/v1/accounts/{world.account.pk}/").status_code == 404
    assert ops.delete(f"{url}api-unrelated/").status_code == 404
