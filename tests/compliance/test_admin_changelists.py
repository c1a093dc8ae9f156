"""Every list that can grow renders in a bounded number of queries, whatever the number of
rows (no N+1), and its search and filters work."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.users.roles import COMPLIANCE
from tests.compliance.admin_support import buy, fund, order_with_fills, staff

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/orders/order/",
    "/admin/orders/orderevent/",
    "/admin/orders/fill/",
    "/admin/orders/position/",
    "/admin/ledger/journaltransaction/",
    "/admin/ledger/journalentry/",
    "/admin/ledger/ledgeraccount/",
    "/admin/ledger/hold/",
    "/admin/accounts/tradingaccount/",
    "/admin/risk/tradingstate/",
    "/admin/brokers/orderinstruction/",
    "/admin/brokers/executionreportrecord/",
]
MAX_QUERIES = 14


def activity(make_account, actor, accounts: int) -> list:  # type: ignore[no-untyped-def]
    made = []
    for _ in range(accounts):
        account = fund(make_account(), actor)
        order_with_fills(actor, account, 2)
        buy(actor, account)
        made.append(account)
    return made


def counts(client) -> dict[str, int]:  # type: ignore[no-untyped-def]
    result = {}
    for url in CHANGELISTS:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, url
        result[url] = len(queries)
    return result


def test_changelists_cost_a_bounded_number_of_queries(client, make_account, instrument, actor) -> None:
    user = staff("carla", COMPLIANCE)
    client.force_login(user)
    activity(make_account, actor, 1)
    client.get("/admin/")
    few = counts(client)
    activity(make_account, actor, 4)
    many = counts(client)
    for url in CHANGELISTS:
        assert many[url] == few[url], (url, few[url], many[url])
        assert many[url] <= MAX_QUERIES, (url, many[url])


def test_search_finds_by_indexed_keys(client, make_account, instrument, actor) -> None:
    from apps.ledger.models import JournalTransaction
    from apps.orders.models import Order

    client.force_login(staff("carla", COMPLIANCE))
    a, b = activity(make_account, actor, 2)
    order = Order.objects.filter(account=a).first()
    cases = [
        ("/admin/orders/order/", a.number, f"/admin/orders/order/{order.pk}/change/", True),
        (
            "/admin/orders/order/",
            a.number,
            f"/admin/orders/order/{Order.objects.filter(account=b).first().pk}/change/",
            False,
        ),
        ("/admin/orders/order/", str(order.pk), f"/admin/orders/order/{order.pk}/change/", True),
        ("/admin/orders/order/", "ACME", f"/admin/orders/order/{order.pk}/change/", True),
        ("/admin/orders/order/", "not a thing", f"/admin/orders/order/{order.pk}/change/", False),
        ("/admin/orders/orderevent/", str(order.pk), f"/admin/orders/order/{order.pk}/", False),
        ("/admin/accounts/tradingaccount/", a.number, f"/admin/accounts/tradingaccount/{a.pk}/change/", True),
        ("/admin/accounts/tradingaccount/", a.number, f"/admin/accounts/tradingaccount/{b.pk}/change/", False),
    ]
    for url, term, link, present in cases:
        response = client.get(url, {"q": term})
        assert response.status_code == 200, (url, term)
        assert (link in response.content.decode()) is present, (url, term, link)
    txn = JournalTransaction.objects.filter(kind="fill").first()
    response = client.get("/admin/ledger/journaltransaction/", {"q": txn.idempotency_key})
    assert f"/admin/ledger/journaltransaction/{txn.pk}/change/" in response.content.decode()
    response = client.get("/admin/ledger/journalentry/", {"q": a.number})
    assert response.status_code == 200 and "/admin/ledger/journalentry/" in response.content.decode()
    for url, params in [
        ("/admin/orders/order/", {"status__exact": "pending_new", "reject_reason": "trading_halted"}),
        ("/admin/orders/order/", {"broker": "paper"}),
        ("/admin/orders/fill/", {"broker": "paper", "q": "X1"}),
        ("/admin/orders/orderevent/", {"kind__exact": "filled", "initiator__exact": "venue"}),
        ("/admin/ledger/journaltransaction/", {"kind__exact": "fill", "q": str(txn.pk)}),
    ]:
        assert client.get(url, params).status_code == 200, (url, params)
