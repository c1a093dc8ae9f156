"""The order timeline page: every event and fill in order, microsecond times, actor and
initiator, linked from the order's change page, in a fixed number of queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.orders.models import Fill, OrderEvent
from apps.orders.services import order_cancel
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.compliance.admin_support import fund, order_with_fills, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_user(db):  # type: ignore[no-untyped-def]
    return staff("carla", COMPLIANCE)


def test_the_timeline_lists_every_event_and_fill_in_order(client, account, instrument, actor, compliance_user) -> None:
    fund(account, actor)
    order = order_with_fills(actor, account, 2)
    order_cancel(actor=compliance_user, order_id=order.pk, reason="client asked")
    client.force_login(compliance_user)
    change = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert f'href="/admin/orders/order/{order.pk}/timeline/"' in change
    response = client.get(f"/admin/orders/order/{order.pk}/timeline/")
    assert response.status_code == 200
    html = response.content.decode()
    events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    fills = list(Fill.objects.filter(order=order))
    rows = re.findall(r'<tr class="timeline-(event|fill)">', html)
    assert rows.count("event") == len(events) == 6 and rows.count("fill") == len(fills) == 2
    # Times are UTC with six-digit microseconds, in order.
    times = re.findall(r'<td class="timeline-at"><code>([^<]+)</code>', html)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", t) for t in times)
    assert times == sorted(times)
    assert events[0].at.strftime("%H:%M:%S.%f") in html
    assert "2026-11-25 15:30:00.123456 UTC" in html  # the broker's time
    actors = re.findall(r'<td class="timeline-actor">([^<]*)</td>', html)
    assert "carla" in actors and "system" in actors
    initiators = re.findall(r'<td class="timeline-initiator">([^<]*)</td>', html)
    assert "Client" in initiators
    assert f"/admin/ledger/journaltransaction/{fills[0].transaction_id}/change/" in html


def test_the_timeline_costs_the_same_queries_for_any_number_of_events(
    client, make_account, instrument, actor, compliance_user
) -> None:
    small = order_with_fills(actor, fund(make_account(), actor), 1)
    large = order_with_fills(actor, fund(make_account(), actor), 8)
    client.force_login(compliance_user)
    client.get(f"/admin/orders/order/{small.pk}/timeline/")  # warm the session
    counts = []
    for order in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/admin/orders/order/{order.pk}/timeline/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[1] <= 8, counts


def test_the_timeline_needs_the_view_permission(client, account, instrument, actor) -> None:
    fund(account, actor)
    order = order_with_fills(actor, account, 1)
    nobody = staff("nobody")
    client.force_login(nobody)
    assert client.get(f"/admin/orders/order/{order.pk}/timeline/").status_code == 403
    client.force_login(staff("oscar", OPERATIONS))
    assert client.get(f"/admin/orders/order/{order.pk}/timeline/").status_code == 200
    assert client.get("/admin/orders/order/99999999/timeline/").status_code == 404
