"""The permission matrix: every endpoint x method x role → the expected status, generated.

- The endpoints and their methods come from the URL resolver (``config.api_urls``) and the view
  classes, so a new endpoint (or method) without a declared policy fails
  ``test_every_endpoint_has_a_policy_and_a_request``.
- The policy is data, declared once per (route, method) as a *kind*; what each role may do is
  data too (``ROLE_FACTS``). The expected status of every cell is derived from the two.
- Each cell sends a request that is valid for its endpoint (an order risk accepts, a price on
  the tick, a fresh idempotency key, ...), so the status reflects permission, not input.
- Every refusal is ``application/problem+json`` with a matching ``status`` and a ``code``, and
  writes nothing (a fingerprint of every domain table is unchanged); every read writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.orders.models import Order, OrderEvent
from config import api_urls
from tests.api.conftest import PASSWORD, ROLES
from tests.api.matrix_support import UNKNOWN_ID, MatrixWorld, fingerprint, shared_matrix_world

pytestmark = pytest.mark.django_db

NAMESPACE = api_urls.app_name
PROBLEM = "application/problem+json"
# OPTIONS is DRF's metadata on every view and HEAD is derived from GET: tested apart, below.
IGNORED_METHODS = frozenset({"options", "head", "trace"})


# ---------------------------------------------------------------------------------------------
# Who is who: what each role may do, as facts (the world fixture makes them true).


@dataclass(frozen=True)
class Facts:
    authenticated: bool
    views_world_account: bool  # the trader's account (``world.account``)
    views_other_account: bool  # the unrelated client's own account (``world.other_account``)
    trades_world_account: bool
    staff_roles: frozenset[str] = frozenset()


ROLE_FACTS: dict[str, Facts] = {
    "anonymous": Facts(False, False, False, False),
    "unrelated": Facts(True, False, True, False),
    "viewer": Facts(True, True, False, False),
    "trader": Facts(True, True, False, True),
    "operations": Facts(True, True, True, False, frozenset({"operations"})),
    "compliance": Facts(True, True, True, False, frozenset({"compliance"})),
}
assert tuple(ROLE_FACTS) == ROLES


# ---------------------------------------------------------------------------------------------
# The policy, once, as data.


class Kind(StrEnum):
    PUBLIC_TOKEN = "public (token): no bearer needed, valid credentials answer"
    AUTHENTICATED = "any authenticated user (reference data)"
    VISIBLE_LIST = "list of what the user's viewable accounts hold (filtered in SQL)"
    ACCOUNT_READ = "read on an account the user may view"
    OPERATIONS = "operations only (role checked before any lookup)"
    COMPLIANCE = "compliance only (role checked before any lookup)"
    TRADE = "trade on an account the user may view"


GATE_ROLE = {Kind.OPERATIONS: "operations", Kind.COMPLIANCE: "compliance"}


@dataclass(frozen=True)
class Rule:
    kind: Kind
    ok: int = 200  # the success status of this endpoint


POLICY: dict[tuple[str, str], Rule] = {
    ("token", "POST"): Rule(Kind.PUBLIC_TOKEN),
    ("token-refresh", "POST"): Rule(Kind.PUBLIC_TOKEN),
    ("account-list", "GET"): Rule(Kind.VISIBLE_LIST),
    ("account-list", "POST"): Rule(Kind.OPERATIONS, 201),
    ("account-detail", "GET"): Rule(Kind.ACCOUNT_READ),
    ("account-balances", "GET"): Rule(Kind.ACCOUNT_READ),
    ("account-positions", "GET"): Rule(Kind.ACCOUNT_READ),
    ("account-ledger", "GET"): Rule(Kind.ACCOUNT_READ),
    ("account-deposits", "POST"): Rule(Kind.OPERATIONS, 201),
    ("account-withdrawals", "POST"): Rule(Kind.OPERATIONS, 201),
    ("account-grants", "POST"): Rule(Kind.OPERATIONS, 201),
    ("account-grant-detail", "DELETE"): Rule(Kind.OPERATIONS, 204),
    ("account-trading-state", "PUT"): Rule(Kind.COMPLIANCE),
    ("trading-state", "PUT"): Rule(Kind.COMPLIANCE),
    ("instrument-list", "GET"): Rule(Kind.AUTHENTICATED),
    ("instrument-detail", "GET"): Rule(Kind.AUTHENTICATED),
    ("instrument-prices", "POST"): Rule(Kind.OPERATIONS, 201),
    ("restriction-list", "GET"): Rule(Kind.COMPLIANCE),
    ("restriction-list", "POST"): Rule(Kind.COMPLIANCE, 201),
    ("restriction-detail", "DELETE"): Rule(Kind.COMPLIANCE, 204),
    ("order-list", "GET"): Rule(Kind.VISIBLE_LIST),
    ("order-list", "POST"): Rule(Kind.TRADE, 201),
    ("order-batch", "POST"): Rule(Kind.TRADE, 201),  # each order's answer (see ``send``)
    ("order-detail", "GET"): Rule(Kind.ACCOUNT_READ),
    ("order-detail", "PATCH"): Rule(Kind.TRADE),
    ("order-detail", "DELETE"): Rule(Kind.TRADE, 202),
    ("order-events", "GET"): Rule(Kind.ACCOUNT_READ),
    ("fill-list", "GET"): Rule(Kind.VISIBLE_LIST),
    ("report-list", "GET"): Rule(Kind.VISIBLE_LIST),
    ("report-download", "GET"): Rule(Kind.ACCOUNT_READ),  # a statement of the world account
}


def expected_status(rule: Rule, role: str, *, exists: bool = True) -> int:
    """The status ``role`` gets from an endpoint under ``rule``; ``exists=False`` when the
    targeted account, order, instrument or restriction does not exist."""
    facts = ROLE_FACTS[role]
    if rule.kind is Kind.PUBLIC_TOKEN:
        return rule.ok
    if not facts.authenticated:
        return 401
    if rule.kind in GATE_ROLE:  # the role gate first: its answer cannot depend on existence
        if GATE_ROLE[rule.kind] not in facts.staff_roles:
            return 403
        return rule.ok if exists else 404
    if not exists:
        return 404
    if rule.kind in (Kind.AUTHENTICATED, Kind.VISIBLE_LIST):
        return rule.ok
    if not facts.views_world_account:
        return 404  # no existence leak
    if rule.kind is Kind.ACCOUNT_READ:
        return rule.ok
    assert rule.kind is Kind.TRADE
    return rule.ok if facts.trades_world_account else 403


# ---------------------------------------------------------------------------------------------
# The endpoints, from the resolver and the view classes.


def _routes() -> list[tuple[URLPattern, type]]:
    """The API's routes with their view classes (flat: an ``include`` would need namespaced names
    here, so it fails loudly instead of being skipped)."""
    routes = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern), f"{pattern}: the matrix does not follow includes; list its routes"
        assert pattern.name, f"unnamed API route {pattern.pattern}"
        view_class = getattr(pattern.callback, "view_class", None)
        assert view_class is not None, f"{pattern.name}: the matrix needs class-based views"
        routes.append((pattern, view_class))
    return routes


def api_endpoints() -> list[tuple[str, str]]:
    """Every (route name, METHOD) the API answers: http_method_names intersected with the
    handlers the view class defines."""
    found = []
    for pattern, view_class in _routes():
        for method in view_class.http_method_names:
            if method not in IGNORED_METHODS and callable(getattr(view_class, method, None)):
                found.append((pattern.name, method.upper()))
    return found


ENDPOINTS = api_endpoints()
# The path parameters of each route (a route with any points at something that may not exist).
ROUTE_PARAMS = {pattern.name: set(pattern.pattern.converters) for pattern, _ in _routes()}


# ---------------------------------------------------------------------------------------------
# A valid request per endpoint.


@dataclass(frozen=True)
class Targets:
    """What a request points at; ``unknown()`` swaps each for one that does not exist."""

    account: int
    order: int
    symbol: str
    restriction: int
    report: int
    grantee: str = "api-viewer"

    def unknown(self) -> Targets:
        return replace(
            self, account=UNKNOWN_ID, order=UNKNOWN_ID, symbol="NOSUCH", restriction=UNKNOWN_ID, report=UNKNOWN_ID
        )


@dataclass
class Call:
    kwargs: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def _key(label: str) -> str:
    return f"matrix-{label}-{uuid.uuid4().hex}"


def _login_user(mw: MatrixWorld, role: str) -> Any:
    return mw.users[role] or mw.users["trader"]  # anonymous logs in as the trader


def _acct(t: Targets) -> dict[str, Any]:
    return {"account_id": t.account}


def _order(t: Targets) -> dict[str, Any]:
    return {"order_id": t.order}


Builder = Callable[[MatrixWorld, str, Targets], Call]
REQUESTS: dict[tuple[str, str], Builder] = {
    ("token", "POST"): lambda mw, role, t: Call(
        body={"username": _login_user(mw, role).username, "password": PASSWORD}
    ),
    ("token-refresh", "POST"): lambda mw, role, t: Call(
        body={"refresh": str(RefreshToken.for_user(_login_user(mw, role)))}
    ),
    ("account-list", "GET"): lambda mw, role, t: Call(),
    ("account-list", "POST"): lambda mw, role, t: Call(
        body={"name": f"Matrix {role}", "base_currency": "USD", "owner": "api-viewer"}
    ),
    ("account-detail", "GET"): lambda mw, role, t: Call(_acct(t)),
    ("account-balances", "GET"): lambda mw, role, t: Call(_acct(t)),
    ("account-positions", "GET"): lambda mw, role, t: Call(_acct(t)),
    ("account-ledger", "GET"): lambda mw, role, t: Call(_acct(t)),
    ("account-deposits", "POST"): lambda mw, role, t: Call(
        _acct(t), {"currency": "USD", "amount": "250.00", "idempotency_key": _key("deposit")}
    ),
    ("account-withdrawals", "POST"): lambda mw, role, t: Call(
        _acct(t), {"currency": "USD", "amount": "100.00", "idempotency_key": _key("withdrawal")}
    ),
    ("account-grants", "POST"): lambda mw, role, t: Call(
        _acct(t), {"username": "api-unrelated", "permissions": ["view", "trade"]}
    ),
    ("account-grant-detail", "DELETE"): lambda mw, role, t: Call({**_acct(t), "username": t.grantee}),
    ("account-trading-state", "PUT"): lambda mw, role, t: Call(
        _acct(t), {"state": "reducing", "reason": "matrix: reduce only"}
    ),
    ("trading-state", "PUT"): lambda mw, role, t: Call(body={"state": "halted", "reason": "matrix: kill switch"}),
    ("instrument-list", "GET"): lambda mw, role, t: Call(),
    ("instrument-detail", "GET"): lambda mw, role, t: Call({"symbol": t.symbol}),
    ("instrument-prices", "POST"): lambda mw, role, t: Call({"symbol": t.symbol}, {"price": "101.25"}),
    ("restriction-list", "GET"): lambda mw, role, t: Call(),
    ("restriction-list", "POST"): lambda mw, role, t: Call(body={"symbol": "ACME", "reason": "matrix: restricted"}),
    ("restriction-detail", "DELETE"): lambda mw, role, t: Call({"restriction_id": t.restriction}),
    ("order-list", "GET"): lambda mw, role, t: Call(),
    ("order-list", "POST"): lambda mw, role, t: Call(
        body={
            "account": t.account,
            "symbol": "ACME",
            "side": "buy",
            "type": "limit",
            "quantity": "5",
            "limit_price": "99.50",
            "time_in_force": "day",
            "client_order_id": _key("order"),
        }
    ),
    ("order-batch", "POST"): lambda mw, role, t: Call(
        body={
            "orders": [
                {
                    "account": t.account,
                    "symbol": "ACME",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "5",
                    "limit_price": "99.50",
                    "client_order_id": _key("batch"),
                }
            ]
        }
    ),
    ("order-detail", "GET"): lambda mw, role, t: Call(_order(t)),
    ("order-detail", "PATCH"): lambda mw, role, t: Call(_order(t), {"limit_price": "98.50"}),
    ("order-detail", "DELETE"): lambda mw, role, t: Call(_order(t)),
    ("order-events", "GET"): lambda mw, role, t: Call(_order(t)),
    ("fill-list", "GET"): lambda mw, role, t: Call(),
    ("report-list", "GET"): lambda mw, role, t: Call(),
    ("report-download", "GET"): lambda mw, role, t: Call({"report_id": t.report}),
}

# Endpoints whose target is in the body rather than the path (an unknown one answers 404 too).
BODY_TARGETS = frozenset({("order-list", "POST"), ("order-batch", "POST")})


def targets_of(mw: MatrixWorld) -> Targets:
    return Targets(
        account=mw.account.pk,
        order=mw.open_order.pk,
        symbol="ACME",
        restriction=mw.restriction.pk,
        report=mw.report_run.pk,
        grantee="api-viewer",
    )


def has_target(route: str, method: str) -> bool:
    return bool(ROUTE_PARAMS[route]) or (route, method) in BODY_TARGETS


def send(mw: MatrixWorld, route: str, method: str, role: str, targets: Targets, client: Any = None) -> Any:
    call = REQUESTS[(route, method)](mw, role, targets)
    url = reverse(f"{NAMESPACE}:{route}", kwargs=call.kwargs)
    handler = getattr(client or mw.client(role), method.lower())
    response = handler(url, call.body, format="json") if call.body is not None else handler(url)
    if route == "order-batch" and response.status_code == 200:
        return BatchItemAnswer(response)
    return response


class BatchItemAnswer:
    """A batch of one order read as the answer to that order: the batch itself answers 200 to
    anyone authenticated, and each order carries the status ``POST /orders/`` would have given."""

    def __init__(self, response: Any) -> None:
        (self.item,) = response.json()["results"]
        self.status_code = self.item["status"]
        self.content = response.content
        self.headers = {"Content-Type": PROBLEM if "problem" in self.item else "application/json"}

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def json(self) -> Any:
        return self.item.get("problem", self.item.get("order"))


def assert_answer(response: Any, expected: int, label: str) -> None:
    assert response.status_code == expected, f"{label}: {response.status_code} != {expected}: {response.content!r}"
    if expected >= 400:
        assert response["Content-Type"] == PROBLEM, f"{label}: {response['Content-Type']}"
        problem = response.json()
        assert problem["status"] == expected, f"{label}: {problem}"
        assert isinstance(problem.get("code"), str) and problem["code"], f"{label}: {problem}"
        assert problem["type"].endswith(problem["code"]) and problem.get("title"), f"{label}: {problem}"
        if expected == 401:
            assert response.get("WWW-Authenticate", "").startswith("Bearer"), f"{label}: no WWW-Authenticate"
    elif expected == 204:
        assert not response.content, label
    else:
        wanted = "application/pdf" if "report-download" in label else "application/json"  # a file download
        assert response["Content-Type"] == wanted, f"{label}: {response['Content-Type']}"


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker) -> Iterator[MatrixWorld]:  # type: ignore[no-untyped-def]
    """One world for the module, rolled back at its end; each test runs in its own savepoint."""
    with django_db_blocker.unblock(), shared_matrix_world() as built:
        yield built


@pytest.fixture
def mw(shared_world: MatrixWorld, db) -> MatrixWorld:  # type: ignore[no-untyped-def]
    return shared_world


def _cells(only: Callable[[str, str], bool] = lambda route, method: True) -> list[Any]:
    return [
        pytest.param(route, method, role, id=f"{method} {route} as {role}")
        for route, method in sorted(POLICY)
        if only(route, method)
        for role in ROLES
    ]


# ---------------------------------------------------------------------------------------------
# Completeness.


def test_every_endpoint_has_a_policy_and_a_request():
    endpoints = set(ENDPOINTS)
    assert len(ROUTE_PARAMS) == len(_routes()), "two routes share a name"
    assert len(endpoints) == len(ENDPOINTS)
    assert endpoints - set(POLICY) == set(), "endpoints without a declared policy"
    assert set(POLICY) - endpoints == set(), "policy for endpoints that do not exist"
    assert set(REQUESTS) == set(POLICY), "every policy entry needs a valid request"
    assert set(POLICY) >= BODY_TARGETS


def test_the_api_is_mounted_where_the_matrix_sends_requests():
    assert reverse(f"{NAMESPACE}:account-list") == "/api/v1/accounts/"
    assert reverse(f"{NAMESPACE}:order-detail", kwargs={"order_id": 7}) == "/api/v1/orders/7/"


# ---------------------------------------------------------------------------------------------
# The matrix.


@pytest.mark.parametrize(("route", "method", "role"), _cells())
def test_matrix(mw: MatrixWorld, route: str, method: str, role: str) -> None:
    rule = POLICY[(route, method)]
    expected = expected_status(rule, role)
    before = fingerprint()
    response = send(mw, route, method, role, targets_of(mw))
    assert_answer(response, expected, f"{method} {route} as {role} ({rule.kind})")
    after = fingerprint()
    if expected >= 400 or method == "GET":
        assert after == before, f"{method} {route} as {role} answered {expected} but changed the database"
    elif rule.kind is not Kind.PUBLIC_TOKEN:
        assert after != before, f"{method} {route} as {role} answered {expected} but changed nothing"


@pytest.mark.parametrize(("route", "method", "role"), _cells(has_target))
def test_unknown_target(mw: MatrixWorld, route: str, method: str, role: str) -> None:
    """An unknown id answers 404 to every role that could otherwise reach it; a role gate
    answers 403 whether or not the target exists."""
    rule = POLICY[(route, method)]
    expected = expected_status(rule, role, exists=False)
    before = fingerprint()
    response = send(mw, route, method, role, targets_of(mw).unknown())
    assert_answer(response, expected, f"{method} {route} (unknown target) as {role}")
    assert fingerprint() == before


def _gated_with_target(route: str, method: str) -> bool:
    return POLICY[(route, method)].kind in GATE_ROLE and has_target(route, method)


@pytest.mark.parametrize(("route", "method"), sorted(k for k in POLICY if _gated_with_target(*k)))
def test_role_gate_answers_the_same_for_existing_and_unknown_targets(mw: MatrixWorld, route: str, method: str):
    """The role is checked before any lookup: for a user without the role, an existing target
    and an unknown one get the same problem (no existence oracle)."""
    gate = GATE_ROLE[POLICY[(route, method)].kind]
    for role in ROLES:
        facts = ROLE_FACTS[role]
        if not facts.authenticated or gate in facts.staff_roles:
            continue
        known = send(mw, route, method, role, targets_of(mw))
        unknown = send(mw, route, method, role, targets_of(mw).unknown())
        assert known.status_code == unknown.status_code == 403, (role, known.content, unknown.content)
        assert known.json() == unknown.json(), role


# ---------------------------------------------------------------------------------------------
# Methods a route does not declare: 405 with an Allow header that matches the enumeration.

WRITE_AND_READ = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _undeclared() -> list[Any]:
    return [
        pytest.param(route, method, id=f"{method} {route}")
        for route in sorted(ROUTE_PARAMS)
        for method in WRITE_AND_READ
        if (route, method) not in POLICY
    ]


@pytest.mark.parametrize(("route", "method"), _undeclared())
def test_an_undeclared_method_is_405_for_a_user_who_passes_the_gate(mw: MatrixWorld, route: str, method: str) -> None:
    declared = sorted(m for r, m in POLICY if r == route)
    kinds = {POLICY[(route, m)].kind for m in declared}
    gates = {GATE_ROLE[k] for k in kinds if k in GATE_ROLE}
    role = gates.pop() if gates else ("anonymous" if kinds == {Kind.PUBLIC_TOKEN} else "trader")
    assert not gates, f"{route}: two role gates on one route"
    call = REQUESTS[(route, declared[0])](mw, role, targets_of(mw))
    url = reverse(f"{NAMESPACE}:{route}", kwargs=call.kwargs)
    before = fingerprint()
    response = getattr(mw.client(role), method.lower())(url, {}, format="json")
    assert_answer(response, 405, f"{method} {route} as {role}")
    derived = {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())  # DRF/Django add these
    assert {m.strip() for m in response["Allow"].split(",")} == {*declared, *derived}
    assert fingerprint() == before
    if kinds != {Kind.PUBLIC_TOKEN}:
        assert_answer(getattr(mw.client("anonymous"), method.lower())(url), 401, f"{method} {route} as anonymous")


# ---------------------------------------------------------------------------------------------
# A bearer token that is not valid is no token at all.


def _bad_bearer(mw: MatrixWorld, kind: str) -> APIClient:
    if kind == "garbage":
        header = "Bearer not-a-jwt"
    elif kind == "tampered":
        token = str(AccessToken.for_user(mw.users["operations"]))
        header = "Bearer " + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    elif kind == "expired":
        token = AccessToken.for_user(mw.users["operations"])
        token.set_exp(lifetime=-timedelta(seconds=1))
        header = f"Bearer {token}"
    else:
        assert kind == "deactivated"
        user = mw.users["compliance"]
        header = f"Bearer {AccessToken.for_user(user)}"
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.mark.parametrize("bearer", ["garbage", "tampered", "expired", "deactivated"])
@pytest.mark.parametrize(("route", "method"), sorted(POLICY))
def test_an_invalid_bearer_token_is_401_everywhere(mw: MatrixWorld, route: str, method: str, bearer: str) -> None:
    """Only the public token endpoints answer (they ignore the header); everything else is 401."""
    rule = POLICY[(route, method)]
    client = _bad_bearer(mw, bearer)
    before = fingerprint()
    response = send(mw, route, method, "anonymous", targets_of(mw), client=client)
    assert_answer(response, rule.ok if rule.kind is Kind.PUBLIC_TOKEN else 401, f"{method} {route} ({bearer})")
    if rule.kind is not Kind.PUBLIC_TOKEN:
        assert fingerprint() == before


# ---------------------------------------------------------------------------------------------
# Lists never leak.


def _list_ids(mw: MatrixWorld, route: str, role: str, **query: Any) -> set[int]:
    response = mw.client(role).get(reverse(f"{NAMESPACE}:{route}"), query)
    assert response.status_code == 200, response.content
    page = response.json()
    assert page["next"] is None, "the matrix world fits on one page"
    return {row["id"] for row in page["results"]}


def _list_rows(mw: MatrixWorld) -> dict[str, tuple[set[int], set[int]]]:
    """Per list: (rows on the world account, rows on the unrelated client's account)."""
    return {
        "account-list": ({mw.account.pk}, {mw.other_account.pk}),
        "order-list": ({mw.open_order.pk, mw.filled_order.pk}, {mw.other_order.pk}),
        "fill-list": ({mw.fill.pk}, set()),
        "report-list": ({mw.report_run.pk}, {mw.other_report_run.pk}),
    }


VISIBLE_LISTS = sorted(route for (route, method), rule in POLICY.items() if rule.kind is Kind.VISIBLE_LIST)
AUTHENTICATED_ROLES = [role for role in ROLES if ROLE_FACTS[role].authenticated]


@pytest.mark.parametrize("role", AUTHENTICATED_ROLES)
@pytest.mark.parametrize("route", VISIBLE_LISTS)
def test_lists_show_exactly_the_viewable_accounts_rows(mw: MatrixWorld, route: str, role: str) -> None:
    rows = _list_rows(mw)
    assert set(rows) == set(VISIBLE_LISTS), "a new visible list needs its rows declared here"
    world_rows, other_rows = rows[route]
    facts = ROLE_FACTS[role]
    expected = (world_rows if facts.views_world_account else set()) | (
        other_rows if facts.views_other_account else set()
    )
    assert _list_ids(mw, route, role) == expected


@pytest.mark.parametrize("route", sorted(set(VISIBLE_LISTS) - {"account-list"}))
def test_filtering_a_list_by_an_invisible_account_leaks_nothing(mw: MatrixWorld, route: str) -> None:
    """``?account=`` on an account the user may not view is an empty list, exactly as for an
    account that does not exist (not a 404 or 400 that would tell them apart)."""
    assert _list_ids(mw, route, "unrelated", account=mw.account.pk) == set()
    assert _list_ids(mw, route, "unrelated", account=UNKNOWN_ID) == set()
    assert _list_ids(mw, route, "viewer", account=mw.account.pk) == _list_rows(mw)[route][0]


# ---------------------------------------------------------------------------------------------
# A refused trade changes nothing (the matrix checks every table; this spells it out).


@pytest.mark.parametrize("role", [r for r in AUTHENTICATED_ROLES if not ROLE_FACTS[r].trades_world_account])
def test_a_refused_trade_creates_or_changes_no_order(mw: MatrixWorld, role: str) -> None:
    orders = list(Order.objects.order_by("pk").values_list("pk", "status", "quantity", "limit_price"))
    events = OrderEvent.objects.count()
    expected = 404 if not ROLE_FACTS[role].views_world_account else 403
    for route, method in sorted(k for k, rule in POLICY.items() if rule.kind is Kind.TRADE):
        response = send(mw, route, method, role, targets_of(mw))
        assert_answer(response, expected, f"{method} {route} as {role}")
        if expected == 403:
            assert response.json()["code"] == "trade_not_permitted"
    assert list(Order.objects.order_by("pk").values_list("pk", "status", "quantity", "limit_price")) == orders
    assert OrderEvent.objects.count() == events


# ---------------------------------------------------------------------------------------------
# OPTIONS (DRF metadata) is outside the matrix, but must not answer anonymous users.


@pytest.mark.parametrize("route", sorted({route for route, _ in POLICY}))
def test_options_needs_authentication(mw: MatrixWorld, route: str) -> None:
    method = next(m for r, m in sorted(POLICY) if r == route)
    call = REQUESTS[(route, method)](mw, "anonymous", targets_of(mw))
    url = reverse(f"{NAMESPACE}:{route}", kwargs=call.kwargs)
    anonymous = mw.client("anonymous").options(url)
    if all(POLICY[(route, m)].kind is Kind.PUBLIC_TOKEN for r, m in POLICY if r == route):
        assert anonymous.status_code == 200
        return
    assert_answer(anonymous, 401, f"OPTIONS {route} as anonymous")
    for role in AUTHENTICATED_ROLES:
        response = mw.client(role).options(url)
        assert response.status_code in (200, 403), (role, response.content)
