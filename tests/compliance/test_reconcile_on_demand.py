"""Reconciliation on demand: ``manage.py reconcile`` (every broker, ``--broker NAME``,
``--no-brokers``) and the admin's "Reconcile now" button on the reconciliation-break queue (POST
only, permission-checked, the same service as the nightly task, run as the staff member)."""

from __future__ import annotations

from io import StringIO

import psycopg
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import connection

from apps.brokers.models import AccountRoute
from apps.compliance.models import ComplianceAlert, ReconciliationBreak
from apps.compliance.reconciliation import RECONCILIATION_LOCK, ReconciliationRunning, reconciliation_run
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.compliance.admin_support import fund, staff
from tests.compliance.venue import OtherVenue, Venue, place, send, venues

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/compliance/reconciliationbreak/"
RECONCILE = "/admin/compliance/reconciliationbreak/reconcile/"


@pytest.fixture
def venue(settings, account, instrument, actor):  # type: ignore[no-untyped-def]
    """``venue`` and ``other`` enabled; the venue executed an order of ``account`` whose fill we
    never booked: two breaks to find (the order and the position)."""
    settings.RECONCILIATION_BROKER_GRACE_SECONDS = 0
    with venues(settings, Venue, OtherVenue) as (venue, _):
        AccountRoute.objects.create(account=account, broker="venue")
        fund(account, actor)
        order = place(actor, account)
        send()
        venue.fill(order.pk, "10")
        yield venue


def run(*args: str) -> str:
    out = StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


# --- the command ------------------------------------------------------------------------------


def test_the_command_reconciles_with_every_enabled_broker(venue):
    text = run()
    assert text.count("NEW break #") == 2 and "Broker venue: account" in text
    assert "broker venue: 1 positions and 1 orders compared, 2 difference(s)" in text
    assert "broker other: 0 positions and 0 orders compared, 0 difference(s)" in text
    assert "2 new break(s) recorded, 0 already open; brokers: other, venue" in text
    again = run()
    assert again.count("already open: Broker venue") == 2 and ReconciliationBreak.objects.count() == 2


def test_the_command_with_one_broker_or_none(venue):
    venue.down = "connection refused"
    only_other = run("--broker", "other")
    assert "broker venue" not in only_other and "reconciliation OK" in only_other
    books_only = run("--no-brokers")
    assert "broker " not in books_only and "reconciliation OK" in books_only
    assert not ReconciliationBreak.objects.exists()

    everything = run()  # the broker that is down is reported; the run completes (exit status 0)
    assert "broker venue: NOT reconciled: BrokerError: connection refused" in everything
    assert "NEW break #" in everything and "could not be reconciled" in everything


def test_the_command_refuses_a_broker_that_is_not_enabled(venue):
    with pytest.raises(CommandError, match="'paper' is not enabled"):
        run("--broker", "paper")
    with pytest.raises(CommandError):
        run("--broker", "venue", "--no-brokers")
    assert not ReconciliationBreak.objects.exists()


# --- the admin button -------------------------------------------------------------------------


def test_compliance_staff_run_it_from_the_queue_page(client, venue):
    carla = staff("carla", COMPLIANCE)
    client.force_login(carla)
    page = client.get(CHANGELIST).content.decode()
    assert 'id="reconcile-now"' in page and f'action="{RECONCILE}"' in page and 'method="post"' in page

    response = client.post(RECONCILE)
    assert response.status_code == 302 and response["Location"] == CHANGELIST
    assert ReconciliationBreak.objects.count() == 2
    assert {b.details["run_by"] for b in ReconciliationBreak.objects.all()} == {"carla"}
    (alert,) = ComplianceAlert.objects.all()
    assert alert.details["run_by"] == "carla" and alert.details["broker"] == "venue"
    followed = client.get(CHANGELIST).content.decode()
    assert "Reconciliation ran: 2 difference(s), 2 new break(s) recorded, 0 already open; 1 alert(s) raised." in (
        followed
    )
    assert "Broker venue: account" in followed  # the new breaks are in the queue

    venue.down = "connection refused"
    client.post(RECONCILE)
    assert (
        "Broker venue could not be reconciled: BrokerError: connection refused"
        in client.get(CHANGELIST).content.decode()
    )


def test_the_button_is_post_only(client, venue):
    client.force_login(staff("carla", COMPLIANCE))
    assert client.get(RECONCILE).status_code == 405
    assert not ReconciliationBreak.objects.exists()


def test_staff_without_the_permission_see_no_button_and_are_refused(client, venue):
    viewer = staff("vera")
    group = Group.objects.create(name="queue-viewers")
    group.permissions.set(Permission.objects.filter(codename="view_reconciliationbreak"))
    viewer.groups.add(group)
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and 'id="reconcile-now"' not in page.content.decode()
    assert client.post(RECONCILE).status_code == 403

    client.force_login(staff("oscar", OPERATIONS))  # operations cannot see the queue at all
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(RECONCILE).status_code == 403

    client.logout()
    assert client.post(RECONCILE).status_code == 302  # to the log-in page
    assert not ReconciliationBreak.objects.exists()


def test_a_run_already_in_progress_is_reported_not_waited_for(client, venue):
    # Django's own connection parameters: the embedded server is reached by its socket directory.
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [RECONCILIATION_LOCK])  # another run holds the lock
        with pytest.raises(ReconciliationRunning):
            reconciliation_run(wait=False)
        client.force_login(staff("carla", COMPLIANCE))
        client.post(RECONCILE)
        assert "A reconciliation is running already" in client.get(CHANGELIST).content.decode()
    assert not ReconciliationBreak.objects.exists()
