"""Staff actions on the return leg in the admin, each behind a page that asks for a reason:
replaying a dead-lettered report (compliance), closing an order whose submit died and pausing a
broker route (operations). Without a reason, or without the permission, nothing changes."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.brokers import intake
from apps.brokers.interface import ExecType
from apps.brokers.models import BrokerControl, ExecutionReportRecord, OrderInstruction, ReportReplay
from apps.orders.models import Order
from tests.compliance.admin_support import buy, fund, report, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_user(db):
    return staff("cora", "compliance")


@pytest.fixture
def ops_user(db):
    return staff("otto", "operations")


@pytest.fixture
def funded(account, actor, instrument):
    return fund(account, actor)


def dead_fill(actor, account) -> tuple[Order, ExecutionReportRecord]:
    order = buy(actor, account)
    OrderInstruction.objects.filter(order=order).update(status="done")
    assert intake.receive("paper", report(order, ExecType.FILL, "12", "100.00")) == "dead"  # 12 of 10
    return order, ExecutionReportRecord.objects.get(order_id=order.pk, status="dead")


def test_compliance_replays_a_dead_letter_with_a_reason(client, funded, actor, compliance_user):
    order, record = dead_fill(actor, funded)
    client.force_login(compliance_user)
    queue = client.get("/admin/compliance/deadletteredreport/").content.decode()
    replay_url = f"/admin/compliance/deadletteredreport/{record.pk}/replay/"
    assert replay_url in queue and ">Replay<" in queue
    page = client.get(replay_url)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert client.post(replay_url, {"reason": "   "}).status_code == 400
    assert not ReportReplay.objects.exists()
    # the cause is fixed: the venue's replace to 12 is booked
    Order.objects.filter(pk=order.pk).update(quantity=12)
    done = client.post(replay_url, {"reason": "replace confirmed by phone (ticket 9)"})
    assert done.status_code == 302
    replay = ReportReplay.objects.get()
    assert (replay.actor_id, replay.reason, replay.outcome) == (
        compliance_user.pk,
        "replace confirmed by phone (ticket 9)",
        "applied",
    )
    record.refresh_from_db()
    assert record.status == "applied"
    assert replay_url not in client.get("/admin/compliance/deadletteredreport/").content.decode()  # left the queue
    assert client.get(replay_url).status_code == 404


def test_only_those_allowed_replay(client, funded, actor, ops_user):
    _, record = dead_fill(actor, funded)
    client.force_login(ops_user)  # operations do not work the compliance queues
    assert client.post(f"/admin/compliance/deadletteredreport/{record.pk}/replay/", {"reason": "x"}).status_code == 403
    assert not ReportReplay.objects.exists()


def test_operations_close_an_order_whose_submit_died(client, funded, actor, ops_user):
    order = buy(actor, funded)
    submit = OrderInstruction.objects.get(order=order)
    OrderInstruction.objects.filter(pk=submit.pk).update(status="dead", maybe_delivered=True, last_error="timeout")
    client.force_login(ops_user)
    listing = client.get("/admin/brokers/orderinstruction/?status=dead").content.decode()
    close_url = f"/admin/brokers/orderinstruction/{submit.pk}/close/"
    assert close_url in listing
    assert client.post(close_url, {"reason": ""}).status_code == 400
    order.refresh_from_db()
    assert order.status == "pending_new"
    done = client.post(close_url, {"reason": "paper confirms it has no such order"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == "canceled" and order.hold.remaining == 0
    closing = order.events.order_by("-id").first()
    assert (closing.actor_id, closing.initiator, closing.data["venue"]["broker"]) == (ops_user.pk, "firm", "paper")


def test_pause_and_resume_a_broker_route(client, ops_user, compliance_user):
    client.force_login(compliance_user)  # sees the routes, cannot pause them
    page = client.get("/admin/brokers/brokercontrol/")
    assert page.status_code == 200 and "/routes/paper/pause/" not in page.content.decode()
    assert client.post("/admin/brokers/brokercontrol/routes/paper/pause/", {"reason": "x"}).status_code == 403
    client.force_login(ops_user)
    routes = client.get("/admin/brokers/brokercontrol/").content.decode()
    assert "/admin/brokers/brokercontrol/routes/paper/pause/" in routes
    assert client.post("/admin/brokers/brokercontrol/routes/paper/pause/", {"reason": " "}).status_code == 400
    assert not BrokerControl.objects.exists()
    assert (
        client.post("/admin/brokers/brokercontrol/routes/paper/pause/", {"reason": "venue maintenance"}).status_code
        == 302
    )
    control = BrokerControl.objects.get(broker="paper")
    assert (control.paused, control.reason, control.changed_by_id) == (True, "venue maintenance", ops_user.pk)
    routes = client.get("/admin/brokers/brokercontrol/").content.decode()
    assert "paused by operations" in routes and "/routes/paper/resume/" in routes
    assert client.get("/admin/brokers/brokercontrol/routes/nope/pause/").status_code == 404
    client.post("/admin/brokers/brokercontrol/routes/paper/resume/", {"reason": "done"})
    control.refresh_from_db()
    assert control.paused is False and control.changed_at <= timezone.now()
