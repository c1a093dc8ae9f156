"""/metrics: django-prometheus's request, database and cache metrics, the relay's and the
intake's histograms, and the business figures (one query per family); closed in production but
to an allow-list of addresses or a bearer token."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.brokers import relay
from apps.compliance.models import ComplianceAlert
from apps.monitoring.collector import FAMILIES
from apps.orders.placement import order_place

pytestmark = pytest.mark.django_db
_coids = itertools.count(1)


def scrape(client, **headers) -> dict[str, list]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def value(families, name, **labels):  # type: ignore[no-untyped-def]
    family = name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
    for sample in families.get(family, []):
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def test_business_figures_one_query_per_family(client, funded, actor, instrument):
    order_place(
        actor=actor,
        account=funded,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="100.00",
        time_in_force="gtc",
        client_order_id=f"m-{next(_coids)}",
    )
    ComplianceAlert.objects.create(
        kind="risk_limit_breached", severity="critical", summary="x", raised_at=timezone.now()
    )
    before = scrape(client)
    relay.relay_once()  # the paper broker fills it: a relay call, an intake batch, a fill
    with CaptureQueriesContext(connection) as queries:
        families = scrape(client)
    assert len(queries) <= len(FAMILIES)  # one query per family, whatever the size of the books
    assert {s.labels["family"]: s.value for s in families["backoffice_collector_up"]} == dict.fromkeys(FAMILIES, 1.0)

    assert value(before, "backoffice_orders_open", status="pending_new") == 1
    assert value(before, "backoffice_outbox_waiting", broker="paper") == 1
    assert value(families, "backoffice_orders_open", status="pending_new") == 0
    assert value(families, "backoffice_orders_closed_today", status="filled") == 1
    assert value(families, "backoffice_fills_booked_today", broker="paper") == 1
    assert value(families, "backoffice_outbox_waiting", broker="paper") == 0
    assert value(families, "backoffice_compliance_alerts_unacknowledged", severity="critical") == 1
    assert value(families, "backoffice_sequencer_backlog", chain="ledger") >= 1  # never committed in a test
    assert value(families, "backoffice_dead_letters", kind="report", broker="paper") == 0
    assert value(families, "backoffice_exception_queue_open", queue="risk_rejection") == 0
    # observed in the code paths themselves (this process ran the relay)
    calls = "backoffice_relay_call_seconds_count"
    assert (
        value(families, calls, broker="paper", action="submit")
        == (value(before, calls, broker="paper", action="submit") or 0) + 1
    )
    assert value(families, "backoffice_intake_batch_seconds_count", broker="paper") >= 1
    assert value(families, "backoffice_intake_reports_total", broker="paper", outcome="applied") >= 1
    # django-prometheus: requests (the first scrape), statements, cache
    assert value(families, "django_http_requests_total_by_view_transport_method_total", view="metrics") >= 1
    assert value(families, "django_db_execute_total", alias="default") >= 1


def test_rejections_by_reason(client, funded, actor, instrument):
    order_place(
        actor=actor,
        account=funded,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1000000",
        limit_price="100.00",
        time_in_force="gtc",
        client_order_id=f"m-{next(_coids)}",
    )
    families = scrape(client)
    reasons = {s.labels["reason"]: s.value for s in families["backoffice_order_rejections_today"]}
    assert sum(reasons.values()) == 1 and "unknown" not in reasons, reasons
    assert value(families, "backoffice_exception_queue_open", queue="risk_rejection") == 1


@pytest.mark.parametrize(
    ("allowed_ips", "token", "headers", "status"),
    [
        ([], "", {}, 403),  # production with nothing configured: closed
        (["10.0.0.0/8"], "", {}, 403),
        (["10.0.0.0/8", "127.0.0.0/8"], "", {}, 200),  # the test client is 127.0.0.1
        (["127.0.0.1"], "", {}, 200),
        (["not-a-network"], "", {}, 403),
        ([], "s3cret-scrape-token", {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}, 200),
        ([], "s3cret-scrape-token", {"HTTP_AUTHORIZATION": "Bearer wrong"}, 403),
        ([], "", {"HTTP_AUTHORIZATION": "Bearer "}, 403),  # no token configured: none accepted
    ],
)
def test_metrics_are_restricted_unless_open(client, settings, allowed_ips, token, headers, status):
    settings.METRICS_OPEN = False
    settings.METRICS_ALLOWED_IPS = allowed_ips
    settings.METRICS_TOKEN = token
    assert client.get("/metrics", **headers).status_code == status
