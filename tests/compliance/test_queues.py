"""The exception queues in the admin: what lands in each, reviewing with a required note, who may
see and review, and bounded query counts. Real logins, real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord
from apps.compliance.models import ComplianceAlert, ExceptionReview, ReconciliationBreak
from apps.compliance.services import compliance_alert_acknowledge, exception_review_record
from apps.core.errors import ApplicationError
from apps.ledger import services as ledger
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)

QUEUE_PERMISSIONS = [
    "view_riskrejection",
    "view_latefillorder",
    "view_deadletteredreport",
    "view_reconciliationbreak",
    "review_exception",
    "view_compliancealert",
    "change_compliancealert",
    "view_securityevent",
]

URLS = {
    "risk_rejection": "admin:compliance_riskrejection_changelist",
    "late_fill": "admin:compliance_latefillorder_changelist",
    "dead_letter": "admin:compliance_deadletteredreport_changelist",
    "reconciliation_break": "admin:compliance_reconciliationbreak_changelist",
}


def staff(username: str, *codenames: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username, is_staff=True)
    if codenames:
        group, _ = Group.objects.get_or_create(name=f"test-{username}")
        group.permissions.set(Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames))
        user.groups.add(group)
    return user


@pytest.fixture
def supervisor():  # type: ignore[no-untyped-def]
    return staff("supervisor", *QUEUE_PERMISSIONS)


@pytest.fixture
def rich(account, actor):  # type: ignore[no-untyped-def]
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="rich")
    return account


def place(actor, account, quantity="10", side="buy"):  # type: ignore[no-untyped-def]
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side=side,
        type="limit",
        quantity=quantity,
        limit_price="100.00",
        time_in_force="day",
        client_order_id=f"q{next(_ids)}",
    )


def report(order, exec_type, qty="0", price=None):  # type: ignore[no-untyped-def]
    return ExecutionReport(
        exec_id=f"QX{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        fee=Decimal(0),
        broker_time=datetime(2026, 11, 25, 15, 30, tzinfo=UTC),
    )


def rejected(actor, account):  # type: ignore[no-untyped-def]
    order = place(actor, account, quantity="100000")  # far beyond the limits and the cash
    assert order.status == "rejected"
    return order


def late_filled(actor, account):  # type: ignore[no-untyped-def]
    order = place(actor, account)
    order_cancel(actor=actor, order_id=order.pk)
    intake.receive("paper", report(order, ExecType.CANCELED))
    intake.receive("paper", report(order, ExecType.PARTIAL_FILL, "2", "100.00"))
    order.refresh_from_db()
    assert (order.status, order.needs_review) == ("canceled", True)
    return order


def dead_letter(actor, account):  # type: ignore[no-untyped-def]
    order = place(actor, account)
    item = report(order, ExecType.FILL, "11", "100.00")  # 11 of 10: an overfill, cannot be applied
    assert intake.receive("paper", item) == "dead"
    return ExecutionReportRecord.objects.get(exec_id=item.exec_id)


def a_break(account):  # type: ignore[no-untyped-def]
    return ReconciliationBreak.objects.create(
        kind="position_vs_ledger",
        account=account,
        summary=f"Account {account.number} ACME: position 5 but the ledger holds 3",
        details={"key": f"position:{account.pk}:1", "position_quantity": "5", "ledger_quantity": "3"},
        found_at=timezone.now(),
    )


@pytest.fixture
def items(rich, instrument, actor):  # type: ignore[no-untyped-def]
    """One item in each queue, plus an order in none."""
    return {
        "risk_rejection": rejected(actor, rich),
        "late_fill": late_filled(actor, rich),
        "dead_letter": dead_letter(actor, rich),
        "reconciliation_break": a_break(rich),
        "normal": place(actor, rich),
    }


def listed(client, queue, **params):  # type: ignore[no-untyped-def]
    response = client.get(reverse(URLS[queue]), params)
    assert response.status_code == 200, response.content[:500]
    return [row.pk for row in response.context["cl"].result_list], response


def test_each_queue_lists_its_items_and_nothing_else(client, supervisor, items):
    client.force_login(supervisor)
    for queue in URLS:
        pks, response = listed(client, queue)
        assert pks == [items[queue].pk], queue
    _, response = listed(client, "risk_rejection")
    page = response.content.decode()
    assert items["risk_rejection"].reject_reason in page and escape(items["risk_rejection"].reject_detail) in page
    _, response = listed(client, "dead_letter")
    page = response.content.decode()
    assert escape(items["dead_letter"].error) in page and items["dead_letter"].exec_id in page
    assert items["risk_rejection"].account.number in page  # the order's account, joined in


def test_filters_and_search(client, supervisor, items, make_account, actor):
    other = make_account()
    ledger.cash_deposit(actor=actor, trading_account=other, currency="USD", amount="10", idempotency_key="o")
    theirs = rejected(actor, other)
    mine = items["risk_rejection"]
    client.force_login(supervisor)
    assert listed(client, "risk_rejection")[0] == [theirs.pk, mine.pk]  # newest first
    assert listed(client, "risk_rejection", account=other.pk)[0] == [theirs.pk]
    assert listed(client, "risk_rejection", q=other.number)[0] == [theirs.pk]
    assert theirs.reject_reason == mine.reject_reason
    assert listed(client, "risk_rejection", reject_reason=mine.reject_reason)[0] == [theirs.pk, mine.pk]
    assert listed(client, "risk_rejection", reject_reason="trading_halted")[0] == []
    exception_review_record(actor=supervisor, queue="risk_rejection", object_ids=[mine.pk], note="ok")
    assert listed(client, "risk_rejection", reviewed="yes")[0] == [mine.pk]
    assert listed(client, "risk_rejection", reviewed="no")[0] == [theirs.pk]
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    date_filter = {"created_at__gte": str(midnight), "created_at__lt": str(midnight + timedelta(days=1))}
    assert listed(client, "risk_rejection", **date_filter)[0] == [theirs.pk, mine.pk]
    assert listed(client, "dead_letter", account=mine.account_id)[0] == [items["dead_letter"].pk]
    assert listed(client, "dead_letter", account=other.pk)[0] == []
    assert listed(client, "dead_letter", q=mine.account.number)[0] == [items["dead_letter"].pk]
    assert listed(client, "reconciliation_break", kind="position_vs_ledger")[0] == [items["reconciliation_break"].pk]


def test_mark_reviewed_asks_for_a_note_then_records_who_when_and_shows_it(client, supervisor, items):
    client.force_login(supervisor)
    order = items["risk_rejection"]
    url = reverse(URLS["risk_rejection"])
    # the action first shows the confirmation page with the note field
    response = client.post(url, {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk]})
    assert response.status_code == 200
    assert b'name="note"' in response.content and b"Record my review" in response.content
    # without a note: nothing is recorded, the page says why
    for note in ("", "   "):
        response = client.post(
            url, {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk], "post": "yes", "note": note}
        )
        assert response.status_code == 200
        assert response.context["form"].errors
        assert b"errorlist" in response.content
    assert not ExceptionReview.objects.exists()
    # with a note: recorded, and shown in the list
    before = timezone.now()
    response = client.post(
        url,
        {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk], "post": "yes", "note": "Client over limit."},
        follow=True,
    )
    assert response.status_code == 200
    review = ExceptionReview.objects.get()
    assert (review.queue, review.object_id, review.reviewed_by, review.note) == (
        "risk_rejection",
        order.pk,
        supervisor,
        "Client over limit.",
    )
    assert review.reviewed_at >= before
    row = response.context["cl"].result_list[0]
    assert (row.review_by, row.review_at, row.review_note) == ("supervisor", review.reviewed_at, "Client over limit.")
    assert "Recorded your review of 1 item(s)." in [str(m) for m in response.context["messages"]]
    # reviewing again is a no-op: the first review stays, and the supervisor is told
    response = client.post(
        url,
        {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk], "post": "yes", "note": "Again."},
        follow=True,
    )
    assert ExceptionReview.objects.get().note == "Client over limit."
    assert any("already been reviewed" in str(m) for m in response.context["messages"])


def test_the_per_item_review_page(client, supervisor, items):
    client.force_login(supervisor)
    report_ = items["dead_letter"]
    url = reverse("admin:compliance_deadletteredreport_review", args=[report_.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"note": ""})
    assert response.status_code == 200 and response.context["form"].errors
    assert not ExceptionReview.objects.exists()
    response = client.post(url, {"note": "Replayed by operations."})
    assert response.status_code == 302
    review = ExceptionReview.objects.get()
    assert (review.queue, review.object_id, review.reviewed_by) == ("dead_letter", report_.pk, supervisor)
    # an item outside the queue has no review page
    assert client.get(reverse("admin:compliance_deadletteredreport_review", args=[10**9])).status_code == 404


def test_every_queue_can_be_reviewed(supervisor, items):
    for queue in URLS:
        outcome = exception_review_record(actor=supervisor, queue=queue, object_ids=[items[queue].pk], note="seen")
        assert [r.object_id for r in outcome.recorded] == [items[queue].pk]
    assert ExceptionReview.objects.count() == 4


def test_the_service_refuses_items_outside_the_queue_and_records_nothing(supervisor, items):
    with pytest.raises(ApplicationError) as refused:
        exception_review_record(
            actor=supervisor,
            queue="risk_rejection",
            object_ids=[items["risk_rejection"].pk, items["normal"].pk],
            note="x",
        )
    assert refused.value.code == "exception_not_found"
    with pytest.raises(ApplicationError) as refused:
        exception_review_record(
            actor=supervisor, queue="risk_rejection", object_ids=[items["risk_rejection"].pk], note=" "
        )
    assert refused.value.code == "review_note_required"
    assert not ExceptionReview.objects.exists()


def test_without_the_permissions_one_can_neither_see_nor_review(client, items):
    nobody = staff("nobody")
    client.force_login(nobody)
    order = items["risk_rejection"]
    for name in URLS.values():
        assert client.get(reverse(name)).status_code == 403
    response = client.post(
        reverse(URLS["risk_rejection"]),
        {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk], "post": "yes", "note": "sneaky"},
    )
    assert response.status_code == 403
    assert (
        client.post(reverse("admin:compliance_riskrejection_review", args=[order.pk]), {"note": "x"}).status_code == 403
    )

    viewer = staff("viewer", "view_riskrejection")  # may look, may not review
    client.force_login(viewer)
    response = client.get(reverse(URLS["risk_rejection"]))
    assert response.status_code == 200
    assert b"mark_reviewed" not in response.content and b"/review/" not in response.content
    response = client.post(
        reverse(URLS["risk_rejection"]),
        {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [order.pk], "post": "yes", "note": "sneaky"},
    )
    assert response.status_code in (200, 302)  # the admin answers "no action selected"
    assert (
        client.post(reverse("admin:compliance_riskrejection_review", args=[order.pk]), {"note": "x"}).status_code == 403
    )
    assert not ExceptionReview.objects.exists()


def test_the_queues_are_read_only(client, supervisor, items):
    client.force_login(supervisor)
    order = items["risk_rejection"]
    assert client.get(reverse("admin:compliance_riskrejection_add")).status_code == 403
    assert client.post(reverse("admin:compliance_riskrejection_delete", args=[order.pk])).status_code == 403
    response = client.post(reverse("admin:compliance_riskrejection_change", args=[order.pk]), {"reject_reason": "x"})
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).reject_reason == order.reject_reason


@pytest.mark.parametrize("queue", list(URLS))
def test_list_queries_do_not_grow_with_the_rows(client, supervisor, rich, instrument, actor, queue):
    make = {
        "risk_rejection": lambda: rejected(actor, rich),
        "late_fill": lambda: late_filled(actor, rich),
        "dead_letter": lambda: dead_letter(actor, rich),
        "reconciliation_break": lambda: a_break(rich),
    }[queue]
    client.force_login(supervisor)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            listed(client, queue)
        return len(ctx.captured_queries)

    make()
    first = listed(client, queue)[0]
    exception_review_record(actor=supervisor, queue=queue, object_ids=first, note="seen")
    one = count()
    for _ in range(4):
        make()
    assert len(listed(client, queue)[0]) == 5
    assert count() == one
    assert one <= 15


def test_acknowledge_an_alert_once(client, supervisor):
    alert = ComplianceAlert.objects.create(
        kind="ledger_verification_failed", severity="critical", summary="broken", raised_at=timezone.now()
    )
    client.force_login(supervisor)
    url = reverse("admin:compliance_compliancealert_changelist")
    response = client.post(url, {"action": "acknowledge", ACTION_CHECKBOX_NAME: [alert.pk]}, follow=True)
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == supervisor and alert.acknowledged_at is not None
    first = alert.acknowledged_at
    other = staff("other", *QUEUE_PERMISSIONS)
    outcome = compliance_alert_acknowledge(actor=other, alert_ids=[alert.pk])
    assert (outcome.acknowledged, outcome.already) == ([], [alert.pk])
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.acknowledged_at) == (supervisor, first)


def test_acknowledging_needs_the_permission(client):
    alert = ComplianceAlert.objects.create(
        kind="ledger_verification_failed", severity="critical", summary="broken", raised_at=timezone.now()
    )
    reader = staff("reader", "view_compliancealert")
    client.force_login(reader)
    url = reverse("admin:compliance_compliancealert_changelist")
    assert b'value="acknowledge"' not in client.get(url).content
    client.post(url, {"action": "acknowledge", ACTION_CHECKBOX_NAME: [alert.pk]})
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_security_events_are_listed_read_only_and_filterable(client, supervisor):
    from apps.compliance.models import SecurityEvent

    now = timezone.now()
    SecurityEvent.objects.create(kind="login_failed", username="mallory", channel="api", source_ip="10.0.0.9", at=now)
    SecurityEvent.objects.create(kind="login", username="alice", channel="admin", source_ip="10.0.0.1", at=now)
    client.force_login(supervisor)
    url = reverse("admin:compliance_securityevent_changelist")
    names = lambda **p: [e.username for e in client.get(url, p).context["cl"].result_list]  # noqa: E731
    assert set(names()) >= {"mallory", "alice"}
    assert names(kind="login_failed") == ["mallory"]
    assert "alice" in names(channel="admin") and "mallory" not in names(channel="admin")
    assert names(q="mallory") == ["mallory"]
    assert names(q="10.0.0.9") == ["mallory"]
    assert client.get(reverse("admin:compliance_securityevent_add")).status_code == 403


def test_each_queue_item_has_a_read_only_detail_page(client, supervisor, items):
    client.force_login(supervisor)
    for name in ("riskrejection", "latefillorder", "deadletteredreport", "reconciliationbreak"):
        queue = {
            "riskrejection": "risk_rejection",
            "latefillorder": "late_fill",
            "deadletteredreport": "dead_letter",
            "reconciliationbreak": "reconciliation_break",
        }[name]
        response = client.get(reverse(f"admin:compliance_{name}_change", args=[items[queue].pk]))
        assert response.status_code == 200, name
        assert b'name="_save"' not in response.content
    # an order outside the queue is not found through it
    assert client.get(reverse("admin:compliance_riskrejection_change", args=[items["normal"].pk])).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_reviewing_the_same_item_at_once_record_one_review(rich, instrument, actor):
    from tests.concurrency.harness import run_in_threads

    order = rejected(actor, rich)
    first, second = staff("first", *QUEUE_PERMISSIONS), staff("second", *QUEUE_PERMISSIONS)
    outcomes = run_in_threads(
        2,
        lambda i: exception_review_record(
            actor=(first, second)[i], queue="risk_rejection", object_ids=[order.pk], note=f"by {i}"
        ),
    )
    assert [o.error for o in outcomes] == [None, None]
    recorded = [len(o.value.recorded) for o in outcomes]
    skipped = [o.value.already_reviewed for o in outcomes]
    assert sorted(recorded) == [0, 1] and sorted(skipped) == [[], [order.pk]]
    assert ExceptionReview.objects.count() == 1
