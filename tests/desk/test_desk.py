"""The compliance desk on the admin index: each section's figures and links, who sees it, and a
query count that does not grow with the books."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.compliance.models import ReconciliationBreak
from apps.compliance.reconciliation import reconciliation_run
from apps.compliance.services import compliance_alert_acknowledge, compliance_alert_raise, exception_review_record
from apps.compliance.verification import ledger_verify_and_alert
from apps.desk.selectors import report_day
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from apps.reports.models import ReportDelivery, ReportRun
from apps.reports.services import report_run_execute
from apps.risk.models import TradingState
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.compliance.admin_support import staff

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def place(actor, account, quantity):  # type: ignore[no-untyped-def]
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price="100.5",
        time_in_force="day",
        client_order_id=f"d{next(_ids)}",
    )


def a_break(account):  # type: ignore[no-untyped-def]
    n = next(_ids)
    return ReconciliationBreak.objects.create(
        kind="position_vs_ledger",
        account=account,
        summary=f"break {n}",
        details={"key": f"k{n}"},
        found_at=timezone.now(),
    )


def grow(actor, account, instrument, n):  # type: ignore[no-untyped-def]
    """``n`` more of everything the desk counts or lists."""
    for _ in range(n):
        assert place(actor, account, "100000").status == "rejected"  # a risk rejection; its events wait
        a_break(account)
        compliance_alert_raise(kind="ledger_verification_failed", summary=f"alert {next(_ids)}")
        ledger.cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount="1", idempotency_key=f"g{next(_ids)}"
        )


@pytest.fixture
def carla(db):  # type: ignore[no-untyped-def]
    return staff("carla", COMPLIANCE)


@pytest.fixture
def books(funded, instrument, actor, carla):  # type: ignore[no-untyped-def]
    """One item in two queues (and a reviewed break), two alerts (one acknowledged), a halted
    account and a reducing instrument, the ledger verified and reconciled, a statement run."""
    rejected = place(actor, funded, "100000")
    assert rejected.status == "rejected"
    working = place(actor, funded, "1")  # its submit waits in the outbox
    reviewed, open_break = a_break(funded), a_break(funded)
    exception_review_record(actor=carla, queue="reconciliation_break", object_ids=[reviewed.pk], note="checked")
    critical = compliance_alert_raise(kind="ledger_verification_failed", summary="the chain is broken")
    done = compliance_alert_raise(kind="ledger_verification_failed", summary="old news", severity="warning")
    compliance_alert_acknowledge(actor=carla, alert_ids=[done.pk])
    now = timezone.now()
    halted = TradingState.objects.create(
        scope="account", account=funded, state="halted", reason="fraud suspected", updated_by=carla, updated_at=now
    )
    reducing = TradingState.objects.create(
        scope="instrument",
        instrument=instrument,
        state="reducing",
        reason="delisting",
        updated_by=carla,
        updated_at=now,
    )
    TradingState.objects.create(scope="global", state="active", reason="all clear", updated_by=carla, updated_at=now)
    assert ledger_verify_and_alert()["ok"]
    reconciliation_run(brokers=())
    ledger.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="5", idempotency_key="late")
    day = report_day()
    run = report_run_execute(kind="statement", business_date=day, account_id=funded.pk, actor=actor, trigger="manual")
    ReportDelivery.objects.create(run=run, recipient="client@example.test", status="sent", at=now)
    ReportDelivery.objects.create(run=run, recipient="bad@example.test", status="failed", error="550", at=now)
    failed = ReportRun.objects.create(
        kind="statement",
        business_date=day,
        period_start=run.period_start,
        period_end=run.period_end,
        scope="account",
        account=funded,
        status="failed",
        trigger="manual",
        started_by=actor,
        started_at=now,
        finished_at=now,
        error="boom",
    )
    return {
        "account": funded,
        "rejected": rejected,
        "working": working,
        "open_break": open_break,
        "critical": critical,
        "halted": halted,
        "reducing": reducing,
        "run": run,
        "failed_run": failed,
        "day": day,
    }


def desk_page(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response


def test_each_section_counts_what_it_should_and_links_to_its_page(client, carla, books):  # type: ignore[no-untyped-def]
    response = desk_page(client, carla)
    assert response.template_name == "admin/desk/index.html"
    desk = response.context["desk"]
    html = response.content.decode()

    queues = {line.queue: line for line in desk.queues}
    assert {q: line.open_items for q, line in queues.items()} == {
        "risk_rejection": 1,
        "late_fill": 0,
        "dead_letter": 0,
        "reconciliation_break": 1,  # the reviewed one is closed
    }
    assert queues["risk_rejection"].url == reverse("admin:compliance_riskrejection_changelist") + "?reviewed=no"
    assert client.get(queues["reconciliation_break"].url).context["cl"].result_count == 1
    [item] = desk.open_orders
    assert (item.order.pk, item.queue) == (books["rejected"].pk, "risk_rejection")
    assert item.url == reverse("admin:compliance_riskrejection_review", args=[books["rejected"].pk])
    row = html[html.index(f'data-order="{item.order.pk}"') :][:1200]
    assert ">100000<" in row and ">100.50<" in row and ">0<" in row  # lot 1, tick 0.01: no trailing zeros

    assert (desk.alerts.unacknowledged, desk.alerts.critical) == (1, 1)
    assert [a.pk for a in desk.alerts.newest] == [books["critical"].pk]
    assert client.get(desk.alerts.url).context["cl"].result_count == 1

    assert {(line.state.pk, line.target) for line in desk.scopes} == {
        (books["halted"].pk, f"account {books['account'].number}"),
        (books["reducing"].pk, "instrument ACME"),
    }
    assert reverse("admin:risk_tradingstate_change", args=[books["halted"].pk]) in html

    checks = {line.kind: line for line in desk.checks}
    assert checks["ledger_verification"].last.ok and checks["reconciliation"].last.ok
    assert checks["audit_verification"].last is None and "Never ran." in html
    assert checks["ledger_verification"].url == reverse(
        "admin:compliance_checkrun_change", args=[checks["ledger_verification"].last.pk]
    )
    assert client.get(checks["reconciliation"].runs_url).context["cl"].result_count == 1

    lag = {line.chain: line for line in desk.lag}
    assert lag["ledger"].waiting == 1 and lag["ledger"].age < timedelta(minutes=5)  # the deposit after the check
    assert lag["order events"].waiting >= 1 and lag["order events"].oldest_at is not None
    [outbox] = desk.outbox  # the working order's submit (the rejected one never reached the outbox)
    assert (outbox.broker, outbox.waiting) == (books["working"].broker, 1)
    assert [i.order_id for i in client.get(outbox.url).context["cl"].result_list] == [books["working"].pk]

    reports = desk.reports
    assert reports.day == books["day"]
    [statements] = reports.kinds
    assert (statements.kind, statements.runs, statements.succeeded, statements.failed) == ("statement", 2, 1, 1)
    assert (statements.delivered, statements.delivery_failed) == (1, 1)
    listed = client.get(statements.url).context["cl"]
    assert {r.pk for r in listed.result_list} == {books["run"].pk, books["failed_run"].pk}
    [line] = [r for r in reports.runs if r.run.pk == books["run"].pk]
    assert line.url == reverse("admin:reports_reportrun_change", args=[books["run"].pk])
    pdf = next(f for f, _ in line.files if f.content_type == "application/pdf")
    assert dict(line.files)[pdf] == reverse("admin:reports_reportrun_download", args=[books["run"].pk, pdf.pk])
    assert client.get(dict(line.files)[pdf]).status_code == 200

    assert html.index('id="desk"') < html.index('id="content-main"')  # above the usual app list


def test_others_keep_the_plain_index_and_superusers_see_the_desk(client, books):  # type: ignore[no-untyped-def]
    for user in (staff("oscar", OPERATIONS), staff("nobody")):
        response = desk_page(client, user)
        assert "desk" not in response.context and 'id="desk"' not in response.content.decode()
        assert response.template_name == ["admin/index.html"] or response.template_name == "admin/index.html"
    assert "desk" in desk_page(client, staff("root", superuser=True)).context


def test_the_number_of_queries_does_not_grow_with_the_books(  # type: ignore[no-untyped-def]
    client, carla, books, actor, instrument, django_assert_max_num_queries
):
    client.force_login(carla)
    url = reverse("admin:index")
    client.get(url)  # warm the caches (content types, permissions' lookups)
    # session, user, role; queues, open orders, alerts, scopes, controls, sequencers, outbox, report runs
    # (runs, files, deliveries); the admin's own: permissions (user, groups), recent actions
    with django_assert_max_num_queries(16) as few:
        client.get(url)
    grow(actor, books["account"], instrument, 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.context["desk"].alerts.unacknowledged == 6
