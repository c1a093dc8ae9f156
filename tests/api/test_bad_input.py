"""Malformed input: every case answers a clear 4xx problem (application/problem+json, a stable
``code``, per-field ``errors`` for validation) and changes nothing (orders, journal transactions,
accounts, grants, restrictions, trading states and reference prices all stay as they were).

Also the regression tests for the 500s the schema fuzz found (NUL characters in path and query
values, non-ASCII digits in ids and limits, cursors whose position is not a key, a deposit that
would overflow a balance, an order whose notional needs more than 28 digits)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from apps.accounts.models import TradingAccount, TradingAccountUserObjectPermission
from apps.instruments.models import ReferencePrice
from apps.ledger.models import JournalTransaction
from apps.orders.models import Order
from apps.risk.models import RestrictedInstrument, TradingState

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
BIG_ID = 99999999999999999999  # beyond a 64-bit id
MISSING = object()  # removes a key from a body


def snapshot() -> dict[str, Any]:
    return {
        "orders": Order.objects.count(),
        "transactions": JournalTransaction.objects.count(),
        "accounts": TradingAccount.objects.count(),
        "grants": TradingAccountUserObjectPermission.objects.count(),
        "restrictions": RestrictedInstrument.objects.count(),
        "trading_states": sorted(TradingState.objects.values_list("id", "state", "reason")),
        "prices": sorted(ReferencePrice.objects.values_list("instrument_id", "price")),
    }


def assert_problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].endswith("/" + code) and body["title"] and body["detail"]
    if field is not None:
        assert field in body.get("errors", {}) or body.get("field") == field, body
    return body


def order(world: Any, **changes: Any) -> dict[str, Any]:
    """A valid limit buy on the trader's account, with ``changes`` applied (MISSING removes a key)."""
    body = {
        "account": world.account.pk,
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "99.00",
        "time_in_force": "day",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not MISSING}


def raw(client: Any, method: str, url: str, text: str, content_type: str = "application/json") -> Any:
    return getattr(client, method)(url, data=text, content_type=content_type)


# --- the body as a whole -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"account": 1,',
        "{'account': 1}",
        "",
        "not json",
        '{"quantity": NaN}',
        '{"quantity": Infinity}',
        '{"quantity": -Infinity}',
        "[" * 100_000,  # deep nesting
        '{"a": 1}{"b": 2}',
        b"\xff\xfe{}".decode("latin-1"),
    ],
    ids=["truncated", "single-quotes", "empty", "text", "NaN", "Infinity", "-Infinity", "deep", "two", "bad-utf8"],
)
def test_malformed_json_is_400(world, text):
    before = snapshot()
    response = raw(world.client("trader"), "post", "/api/v1/orders/", text)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] in ("malformed_json", "parse_error", "invalid")
    assert snapshot() == before


@pytest.mark.parametrize("text", ["[]", '[{"account": 1}]', '"an order"', "42", "10.5", "true", "null"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders/",
        "/api/v1/accounts/",
        "/api/v1/restricted-instruments/",
        "/api/v1/controls/trading-state/",
    ],
)
def test_non_object_body_is_400(world, url, text):
    before = snapshot()
    client = world.client("trader" if url == "/api/v1/orders/" else "operations")
    if "restricted" in url or "trading-state" in url:
        client = world.client("compliance")
    method = "put" if "trading-state" in url else "post"
    body = assert_problem(raw(client, method, url, text), 400, "invalid")
    assert "non_field_errors" in body["errors"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", '{"symbol": "ACME"}'),
        ("application/xml", "<order/>"),
        ("application/x-www-form-urlencoded", "symbol=ACME&side=buy"),
        ("multipart/form-data; boundary=x", "--x--"),
    ],
)
def test_wrong_content_type_is_415(world, content_type, text):
    before = snapshot()
    response = raw(world.client("trader"), "post", "/api/v1/orders/", text, content_type)
    assert_problem(response, 415, "unsupported_media_type")
    assert snapshot() == before


# --- order fields ---------------------------------------------------------------------------

BAD_ORDERS = {
    # wrong types
    "quantity-object": ({"quantity": {"value": "10"}}, "quantity"),
    "quantity-bool": ({"quantity": True}, "quantity"),
    "quantity-list": ({"quantity": ["10"]}, "quantity"),
    "quantity-number-9-places": ({"quantity": 1.000000001}, "quantity"),  # JSON numbers are read exactly
    "account-string": ({"account": "1"}, "account"),
    "account-float": ({"account": 1.5}, "account"),
    "account-bool": ({"account": True}, "account"),
    "symbol-number": ({"symbol": 42}, "symbol"),
    "side-number": ({"side": 1}, "side"),
    "client-order-id-number": ({"client_order_id": 7}, "client_order_id"),
    # huge, zero and negative quantities
    "quantity-1e30": ({"quantity": "1e30"}, "quantity"),
    "quantity-10**40": ({"quantity": 10**40}, "quantity"),
    "quantity-9x100": ({"quantity": "9" * 100}, "quantity"),
    "quantity-negative": ({"quantity": "-10"}, "quantity"),
    "quantity-zero": ({"quantity": "0"}, "quantity"),
    "quantity-negative-zero": ({"quantity": "-0"}, "quantity"),
    "quantity-empty": ({"quantity": ""}, "quantity"),
    "quantity-padded": ({"quantity": " 10"}, "quantity"),
    "quantity-exponent": ({"quantity": "1E+1"}, "quantity"),
    # NaN and infinity as strings
    "quantity-NaN": ({"quantity": "NaN"}, "quantity"),
    "quantity-sNaN": ({"quantity": "sNaN"}, "quantity"),
    "quantity-Infinity": ({"quantity": "Infinity"}, "quantity"),
    "limit-price--inf": ({"limit_price": "-Infinity"}, "limit_price"),
    # more than eight decimal places
    "quantity-9-places": ({"quantity": "1.000000001"}, "quantity"),
    "limit-price-9-places": ({"limit_price": "99.000000001"}, "limit_price"),
    # price rules
    "limit-price-negative": ({"limit_price": "-99.00"}, "limit_price"),
    "limit-price-zero": ({"limit_price": "0"}, "limit_price"),
    "limit-price-off-tick": ({"limit_price": "99.005"}, "limit_price"),
    "quantity-off-lot": ({"quantity": "10.5"}, "quantity"),
    "limit-without-price": ({"limit_price": MISSING}, "limit_price"),
    "limit-price-null": ({"limit_price": None}, "limit_price"),
    "market-with-price": ({"type": "market"}, "limit_price"),
    "stop-without-stop-price": ({"type": "stop", "limit_price": MISSING}, "stop_price"),
    # enums
    "side-bogus": ({"side": "hold"}, "side"),
    "side-case": ({"side": "BUY"}, "side"),
    "type-bogus": ({"type": "iceberg"}, "type"),
    "tif-bogus": ({"time_in_force": "forever"}, "time_in_force"),
    # unknown fields and values
    "unknown-field": ({"qty": "10"}, "qty"),
    "unknown-field-null": ({"notes": None}, "notes"),
    "symbol-unknown": ({"symbol": "NOPE"}, "symbol"),
    "symbol-empty": ({"symbol": ""}, "symbol"),
    "symbol-nul": ({"symbol": "AC\x00ME"}, "symbol"),
    "symbol-too-long": ({"symbol": "X" * 33}, "symbol"),
    "client-order-id-too-long": ({"client_order_id": "x" * 65}, "client_order_id"),
    # missing fields
    "missing-quantity": ({"quantity": MISSING}, "quantity"),
    "missing-symbol": ({"symbol": MISSING}, "symbol"),
    "quantity-null": ({"quantity": None}, "quantity"),
    "account-zero": ({"account": 0}, "account"),
    "account-negative": ({"account": -1}, "account"),
    "account-huge": ({"account": BIG_ID}, "account"),
}


@pytest.mark.parametrize(("changes", "field"), BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
def test_bad_order_is_400_and_stores_nothing(world, changes, field):
    body = order(world, **changes)
    before = snapshot()
    response = world.client("trader").post("/api/v1/orders/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] in ("invalid", "invalid_order", "invalid_amount", "unknown_instrument"), problem
    assert field in problem.get("errors", {}) or problem.get("field") == field, problem
    if problem["code"] == "invalid":
        assert isinstance(problem["errors"], dict) and problem["errors"]
    assert snapshot() == before


def test_nan_and_infinity_json_constants_are_refused(world):
    before = snapshot()
    for constant in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(order(world)).replace('"10"', constant)
        response = raw(world.client("trader"), "post", "/api/v1/orders/", text)
        assert_problem(response, 400, "malformed_json")
    assert snapshot() == before


@pytest.mark.parametrize("account", [BIG_ID, 2**63, 10**6])
def test_order_on_an_unknown_account_is_404(world, account):
    before = snapshot()
    response = world.client("trader").post("/api/v1/orders/", order(world, account=account), format="json")
    if account >= 2**63:  # beyond any id: the body is malformed
        assert_problem(response, 400, "invalid", "account")
    else:
        assert_problem(response, 404, "account_not_found")
    assert snapshot() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": "abc"},
        {"limit_price": "1.000000001"},
        {"limit_price": "NaN"},
        {"quantity": 10**40},
        {"price": "1"},
        {},
    ],
    ids=["text", "scale", "nan", "huge", "unknown-field", "empty"],
)
def test_bad_replace_is_400(world, changes):
    placed = world.client("trader").post("/api/v1/orders/", order(world), format="json")
    assert placed.status_code == 201, placed.content
    before = snapshot()
    response = world.client("trader").patch(f"/api/v1/orders/{placed.json()['id']}/", changes, format="json")
    body = assert_problem(response, 400, "invalid")
    assert body["errors"]
    assert snapshot() == before


# --- ids in paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path_id",
    ["abc", "-1", "0", str(BIG_ID), "1.0", "1e3", "%C2%B2", "%D9%A3", "%00", "1%00", " 1"],
    ids=[
        "text",
        "negative",
        "zero",
        "huge",
        "fraction",
        "exponent",
        "superscript",
        "arabic-digit",
        "nul",
        "1nul",
        "sp",
    ],
)
@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("/api/v1/accounts/{}/", "account_not_found"),
        ("/api/v1/accounts/{}/balances/", "account_not_found"),
        ("/api/v1/accounts/{}/positions/", "account_not_found"),
        ("/api/v1/accounts/{}/ledger/", "account_not_found"),
        ("/api/v1/orders/{}/", "order_not_found"),
        ("/api/v1/orders/{}/events/", "order_not_found"),
    ],
)
def test_unknown_or_malformed_path_ids_are_404(world, template, code, path_id):
    response = world.client("compliance").get(template.format(path_id))
    assert_problem(response, 404, code)


@pytest.mark.parametrize("path_id", ["abc", "-1", str(BIG_ID), "%C2%B2", "%00"])
def test_writes_on_malformed_account_ids_are_404(world, path_id):
    before = snapshot()
    ops = world.client("operations")
    deposit = {"currency": "USD", "amount": "1.00", "idempotency_key": "k"}
    assert_problem(ops.post(f"/api/v1/accounts/{path_id}/deposits/", deposit, format="json"), 404, "account_not_found")
    assert_problem(
        ops.post(f"/api/v1/accounts/{path_id}/withdrawals/", deposit, format="json"), 404, "account_not_found"
    )
    grant = {"username": "api-viewer", "permissions": ["view"]}
    assert_problem(ops.post(f"/api/v1/accounts/{path_id}/grants/", grant, format="json"), 404, "account_not_found")
    state = {"state": "halted", "reason": "test"}
    response = world.client("compliance").put(f"/api/v1/accounts/{path_id}/trading-state/", state, format="json")
    assert_problem(response, 404, "account_not_found")
    assert_problem(world.client("trader").delete(f"/api/v1/orders/{path_id}/"), 404, "order_not_found")
    response = world.client("compliance").delete(f"/api/v1/restricted-instruments/{path_id}/")
    assert_problem(response, 404, "restriction_not_found")
    assert snapshot() == before


@pytest.mark.parametrize("symbol", ["NOPE", "%00", "AC%00ME", "x" * 300])
def test_unknown_instrument_paths_are_404(world, symbol):
    before = snapshot()
    assert_problem(world.client("trader").get(f"/api/v1/instruments/{symbol}/"), 404, "instrument_not_found")
    response = world.client("operations").post(
        f"/api/v1/instruments/{symbol}/prices/", {"price": "1.00"}, format="json"
    )
    assert_problem(response, 404, "instrument_not_found")
    assert snapshot() == before


@pytest.mark.parametrize("username", ["nobody", "%00", "a%00b"])
def test_revoking_an_unknown_user_is_404(world, username):
    before = snapshot()
    response = world.client("operations").delete(f"/api/v1/accounts/{world.account.pk}/grants/{username}/")
    assert_problem(response, 404, "unknown_user")
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v2/orders/", "/api/", "/api/v1/orders/1/nope/", "/api/v1"])
def test_unknown_api_urls_are_problem_404_not_html(world, path):
    response = world.client("trader").get(path)
    assert_problem(response, 404, "not_found")


# --- query parameters -----------------------------------------------------------------------


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("status=filled&status=bogus", "status"),
        ("side=hold", "side"),
        ("created_after=notadate", "created_after"),
        ("created_before=2024-13-45", "created_before"),
        ("created_after=99999-01-01T00:00:00Z", "created_after"),
        ("created_before=0001-01-01T00:00:00%2B05:00", "created_before"),  # before year 1 in UTC
        ("account=abc", "account"),
        ("account=-1", "account"),
        (f"account={BIG_ID}", "account"),
        ("account=1.5", "account"),
        ("symbol=AC%00ME", "symbol"),
        ("account=", "account"),  # an empty value is refused, never read as "no filter"
        ("created_after=", "created_after"),
        ("status=", "status"),
        ("acount=1", "__all__"),  # a typo is refused, never ignored (it would list everything)
    ],
)
def test_bad_order_filters_are_400(world, query, field):
    body = assert_problem(world.client("trader").get(f"/api/v1/orders/?{query}"), 400, "invalid")
    assert field in body["errors"], body


def test_order_filter_instants_with_any_offset_are_compared_in_utc(world):
    client = world.client("trader")
    placed = client.post(
        "/api/v1/orders/",
        {"account": world.account.pk, "symbol": "ACME", "side": "buy", "type": "limit", "quantity": "1",
         "limit_price": "90.00"},
        format="json",
    ).json()  # fmt: skip
    # +22:37 is a valid ISO 8601 offset that PostgreSQL itself would refuse (beyond ±15:59).
    response = client.get("/api/v1/orders/?created_before=2999-10-12T04%3A17%3A27.14%2B22%3A37")
    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [placed["id"]]


@pytest.mark.parametrize("query", ["account=abc", f"order={BIG_ID}", "order=-1", "account=%C2%B2"])
def test_bad_fill_filters_are_400(world, query):
    assert_problem(world.client("trader").get(f"/api/v1/fills/?{query}"), 400, "invalid")


BAD_CURSORS = {
    "garbage": "garbage!!",
    "not-base64": "%%%",
    "base64-of-text": _cursor("hello"),
    "offset-text": _cursor("o=abc"),
    "reverse-text": _cursor("r=x"),
    "position-text": _cursor("p=abc"),
    "position-huge": _cursor(f"p={BIG_ID}"),
    "position-negative": _cursor("p=-5"),
    "position-nul": _cursor("p=1\x00"),
    "non-ascii": "%C3%A9",
    "unknown-key": _cursor("x=1"),
    "padding-only": "====",
}
TEXT_POSITIONS = {BAD_CURSORS[name] for name in ("position-text", "position-huge", "position-negative")}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
@pytest.mark.parametrize(
    "url",
    ["/api/v1/orders/", "/api/v1/fills/", "/api/v1/accounts/", "/api/v1/instruments/", "/api/v1/accounts/{}/ledger/"],
)
def test_bad_cursors_are_400(world, url, cursor):
    url = url.format(world.account.pk)
    response = world.client("trader").get(f"{url}?cursor={cursor}")
    if url.startswith("/api/v1/instruments/") and cursor in TEXT_POSITIONS:
        assert response.status_code == 200  # instruments are keyed by symbol: any text is a position
        return
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "-1", "501", "abc", "1.5", "%C2%B2", str(BIG_ID), ""])
@pytest.mark.parametrize("url", ["/api/v1/orders/", "/api/v1/accounts/", "/api/v1/accounts/{}/ledger/"])
def test_bad_limits_are_400(world, url, limit):
    url = url.format(world.account.pk)
    assert_problem(world.client("trader").get(f"{url}?limit={limit}"), 400, "invalid_limit")


def test_ledger_asset_with_nul_is_400(world):
    response = world.client("trader").get(f"/api/v1/accounts/{world.account.pk}/ledger/?asset=US%00D")
    assert_problem(response, 400, "invalid_asset")


# --- cash movements -------------------------------------------------------------------------

BAD_CASH = {
    "amount-negative": ({"amount": "-1.00"}, "invalid_amount"),
    "amount-zero": ({"amount": "0"}, "invalid_amount"),
    "amount-text": ({"amount": "ten"}, "invalid"),
    "amount-bool": ({"amount": False}, "invalid"),
    "amount-object": ({"amount": {"v": 1}}, "invalid"),
    "amount-NaN": ({"amount": "NaN"}, "invalid"),
    "amount-3-places": ({"amount": "1.001"}, "invalid_amount"),
    "amount-9-places": ({"amount": "1.000000001"}, "invalid"),
    "amount-1e30": ({"amount": "1e30"}, "invalid"),
    "amount-9x100": ({"amount": "9" * 100}, "invalid"),
    "amount-overflows-balance": ({"amount": "9" * 20}, "invalid_amount"),
    "currency-unknown": ({"currency": "XXX"}, "unknown_asset"),
    "currency-lowercase": ({"currency": "usd"}, "unknown_asset"),
    "currency-number": ({"currency": 840}, "invalid"),
    "currency-symbol": ({"currency": "ACME"}, "unknown_asset"),
    "key-empty": ({"idempotency_key": ""}, "invalid"),
    "key-blank": ({"idempotency_key": "   "}, "invalid"),
    "key-too-long": ({"idempotency_key": "k" * 129}, "invalid"),
    "key-number": ({"idempotency_key": 12345}, "invalid"),
    "key-nul": ({"idempotency_key": "a\x00b"}, "invalid"),
    "key-missing": ({"idempotency_key": MISSING}, "invalid"),
    "key-null": ({"idempotency_key": None}, "invalid"),
    "unknown-field": ({"note": "hi"}, "invalid"),
}


@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
@pytest.mark.parametrize(("changes", "code"), BAD_CASH.values(), ids=BAD_CASH.keys())
def test_bad_cash_movement_is_400(world, kind, changes, code):
    body = {"currency": "USD", "amount": "10.00", "idempotency_key": "bad-input-1", **changes}
    body = {k: v for k, v in body.items() if v is not MISSING}
    before = snapshot()
    response = world.client("operations").post(f"/api/v1/accounts/{world.account.pk}/{kind}/", body, format="json")
    if kind == "withdrawals" and code == "invalid_amount" and changes.get("amount") == "9" * 20:
        code = "insufficient_funds"  # nothing near that much to withdraw
        assert_problem(response, 422, code)
    else:
        problem = assert_problem(response, 400, code)
        if code == "invalid":
            assert problem["errors"]
    assert snapshot() == before


# --- grants, trading states, restrictions, prices, accounts ---------------------------------

BAD_GRANTS = {
    "unknown-user": ({"username": "nobody"}, "unknown_user"),
    "username-number": ({"username": 7}, "invalid"),
    "permission-bogus": ({"permissions": ["admin"]}, "invalid"),
    "permission-case": ({"permissions": ["VIEW"]}, "invalid"),
    "permissions-empty": ({"permissions": []}, "invalid"),
    "permissions-string": ({"permissions": "view"}, "invalid"),
    "permissions-too-many": ({"permissions": ["view", "trade", "view"]}, "invalid"),
    "unknown-field": ({"role": "admin"}, "invalid"),
}


@pytest.mark.parametrize(("changes", "code"), BAD_GRANTS.values(), ids=BAD_GRANTS.keys())
def test_bad_grant_is_400(world, changes, code):
    body = {"username": "api-unrelated", "permissions": ["view"], **changes}
    before = snapshot()
    response = world.client("operations").post(f"/api/v1/accounts/{world.account.pk}/grants/", body, format="json")
    assert_problem(response, 400, code)
    assert snapshot() == before


BAD_STATES = {
    "no-reason": ({"reason": MISSING}, "reason"),
    "null-reason": ({"reason": None}, "reason"),
    "blank-reason": ({"reason": "   "}, "reason"),
    "reason-number": ({"reason": 42}, "reason"),
    "reason-too-long": ({"reason": "r" * 501}, "reason"),
    "state-bogus": ({"state": "paused"}, "state"),
    "state-missing": ({"state": MISSING}, "state"),
    "unknown-field": ({"until": "tomorrow"}, "until"),
}


@pytest.mark.parametrize("scope", ["firm", "account"])
@pytest.mark.parametrize(("changes", "field"), BAD_STATES.values(), ids=BAD_STATES.keys())
def test_bad_trading_state_is_400(world, scope, changes, field):
    body = {k: v for k, v in {"state": "halted", "reason": "incident 42", **changes}.items() if v is not MISSING}
    url = (
        "/api/v1/controls/trading-state/" if scope == "firm" else f"/api/v1/accounts/{world.account.pk}/trading-state/"
    )
    before = snapshot()
    response = world.client("compliance").put(url, body, format="json")
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] in ("invalid", "reason_required")
    assert field in problem.get("errors", {}) or problem.get("field") in (field, None)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"symbol": "NOPE", "reason": "x"}, "unknown_instrument"),
        ({"symbol": "ACME", "reason": ""}, "invalid"),
        ({"symbol": "ACME", "reason": "x", "account": 10**6}, "unknown_account"),
        ({"symbol": "ACME", "reason": "x", "account": BIG_ID}, "unknown_account"),
        ({"symbol": "ACME", "reason": "x", "account": "1"}, "invalid"),
        ({"symbol": "ACME", "reason": "x", "account": 0}, "invalid"),
        ({"symbol": "ACME", "reason": "x", "scope": "all"}, "invalid"),
    ],
    ids=["unknown-symbol", "no-reason", "unknown-account", "huge-account", "account-string", "account-zero", "field"],
)
def test_bad_restriction_is_400(world, body, code):
    before = snapshot()
    response = world.client("compliance").post("/api/v1/restricted-instruments/", body, format="json")
    assert_problem(response, 400, code)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("price", "code"),
    [
        ("100.005", "invalid_price"),
        ("-1.00", "invalid_amount"),
        ("0", "invalid_amount"),
        ("NaN", "invalid"),
        ("1e3", "invalid"),
        ("1.000000001", "invalid"),
        ({"v": 1}, "invalid"),
        ("9" * 100, "invalid"),
    ],
    ids=["off-tick", "negative", "zero", "nan", "exponent", "9-places", "object", "huge"],
)
def test_bad_price_is_400(world, price, code):
    before = snapshot()
    response = world.client("operations").post("/api/v1/instruments/ACME/prices/", {"price": price}, format="json")
    assert_problem(response, 400, code)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "base_currency": "XXX"}, "unknown_asset"),
        ({"name": "x", "base_currency": "US"}, "invalid"),
        ({"name": "", "base_currency": "USD"}, "invalid"),
        ({"name": 5, "base_currency": "USD"}, "invalid"),
        ({"name": "x", "base_currency": "USD", "owner": "nobody"}, "unknown_user"),
        ({"name": "x", "base_currency": "USD", "status": "open"}, "invalid"),
    ],
    ids=["currency", "currency-short", "no-name", "name-number", "unknown-owner", "unknown-field"],
)
def test_bad_account_is_400(world, body, code):
    before = snapshot()
    assert_problem(world.client("operations").post("/api/v1/accounts/", body, format="json"), 400, code)
    assert snapshot() == before


# --- regressions from the fuzz: limits of the arithmetic ------------------------------------


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_order_with_a_notional_beyond_28_digits_is_refused_not_500(world, side):
    """quantity and price both near 10**19: the notional needs ~40 digits (was InvalidOperation)."""
    before = snapshot()
    body = order(world, side=side, quantity="9" * 19, limit_price="9" * 19)
    response = world.client("trader").post("/api/v1/orders/", body, format="json")
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["order_id"]  # stored as a rejected order, as evidence
    assert Order.objects.count() == before["orders"] + 1
    assert JournalTransaction.objects.count() == before["transactions"]
