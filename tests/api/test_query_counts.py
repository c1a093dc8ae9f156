"""Query counts per endpoint: each is a small constant, whatever the data (no N+1)."""

from __future__ import annotations

import pytest

from apps.orders.placement import order_place
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _orders(world, n):
    for i in range(n):
        order_place(
            actor=world.users["trader"],
            account=world.account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity="1",
            limit_price="90.00",
            time_in_force="gtc",
            client_order_id=f"qc-{i}",
        )


# (role, method, path template, body, the most queries it may take)
CASES = [
    ("trader", "get", "/api/v1/accounts/", None, 4),
    ("compliance", "get", "/api/v1/accounts/", None, 4),
    ("trader", "get", "/api/v1/accounts/{account}/", None, 4),
    ("trader", "get", "/api/v1/accounts/{account}/balances/", None, 4),
    ("trader", "get", "/api/v1/accounts/{account}/positions/", None, 5),
    ("trader", "get", "/api/v1/accounts/{account}/ledger/", None, 6),
    ("trader", "get", "/api/v1/orders/", None, 3),
    ("trader", "get", "/api/v1/orders/?status=pending_new&symbol=ACME", None, 3),
    ("trader", "get", "/api/v1/orders/{order}/", None, 3),
    ("trader", "get", "/api/v1/orders/{order}/events/", None, 4),
    ("trader", "get", "/api/v1/fills/", None, 3),
    ("trader", "get", "/api/v1/instruments/", None, 2),
    ("trader", "get", "/api/v1/instruments/ACME/", None, 2),
    ("compliance", "get", "/api/v1/restricted-instruments/", None, 3),
    (
        "trader",
        "post",
        "/api/v1/orders/",
        {
            "account": "{account}",
            "symbol": "ACME",
            "side": "buy",
            "type": "limit",
            "quantity": "1",
            "limit_price": "95.00",
        },
        20,
    ),
    # the order is still in the outbox, so it is canceled here: submit withdrawn, hold released
    ("trader", "delete", "/api/v1/orders/{order}/", None, 19),
    (
        "operations",
        "post",
        "/api/v1/accounts/{account}/deposits/",
        {"currency": "USD", "amount": "5.00", "idempotency_key": "qc-deposit"},
        10,
    ),
]


@pytest.mark.parametrize(("role", "method", "template", "body", "most"), CASES)
def test_endpoint_query_count_is_bounded(world, role, method, template, body, most, django_assert_max_num_queries):
    _orders(world, 12)  # enough rows that an N+1 would show
    order_id = world.account.orders.order_by("-id").values_list("pk", flat=True).first()
    path = template.format(account=world.account.pk, order=order_id)
    if body is not None:
        body = {k: (world.account.pk if v == "{account}" else v) for k, v in body.items()}
    client = client_for(world.users[role])
    with django_assert_max_num_queries(most):
        response = getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
    assert response.status_code < 300, response.content
