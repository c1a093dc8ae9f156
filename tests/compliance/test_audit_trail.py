"""The audit trail: every change of an audited model leaves a log entry naming its actor, the
source address and the correlation id — whether it came through the API (JWT), the admin
(session), a Celery task or a command (the named system actor). The log is append-only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction

from apps.accounts.services import account_access_grant, trading_account_create, trading_account_set_status
from apps.brokers.models import AccountRoute
from apps.compliance.models import SecurityEvent
from apps.core import context
from apps.core.actors import system_actor
from apps.instruments.models import ReferencePrice
from apps.instruments.services import reference_price_set
from apps.risk.models import RestrictedInstrument, RiskLimits, TradingState
from apps.risk.services import (
    restricted_instrument_add,
    restricted_instrument_remove,
    risk_limits_set,
    trading_state_set,
)
from apps.users.roles import COMPLIANCE
from tests.api.conftest import PASSWORD, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def entries_for(model, pk=None):  # type: ignore[no-untyped-def]
    qs = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model))
    if pk is not None:
        qs = qs.filter(object_pk=str(pk))
    return qs.order_by("id")


@pytest.fixture
def officer(db):  # type: ignore[no-untyped-def]
    user = UserFactory(username="officer", is_staff=True)
    Group.objects.get(name=COMPLIANCE).user_set.add(user)
    return user


def as_actor(user):  # type: ignore[no-untyped-def]
    return context.bind(context.RequestContext(correlation_id="corr-test-1", source_ip="10.1.2.3", actor_id=user.pk))


def test_service_changes_are_logged_with_actor_address_correlation_and_changes(officer, instrument):
    mark = LogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with as_actor(officer):
        account = trading_account_create(actor=officer, name="Audited", base_currency="USD", owner=officer)
        trading_account_set_status(actor=officer, account=account, status="restricted")
        reference_price_set(actor=officer, instrument=instrument, price="101.00")
        risk_limits_set(actor=officer, account=account, max_open_orders=7)
        state = trading_state_set(actor=officer, state="halted", reason="investigation 42", account=account)
        restriction = restricted_instrument_add(actor=officer, instrument=instrument, reason="MNPI", account=account)
        restricted_instrument_remove(actor=officer, restriction_id=restriction.pk)
        AccountRoute.objects.create(account=account, broker="paper")
    status_changes = [
        json.loads(e.changes) if isinstance(e.changes, str) else e.changes
        for e in entries_for(type(account), account.pk)
    ]
    assert any("status" in c and c["status"] == ["open", "restricted"] for c in status_changes)
    expected = [
        (type(account), account.pk),
        (ReferencePrice, ReferencePrice.objects.get(instrument=instrument).pk),
        (RiskLimits, RiskLimits.objects.get(account=account).pk),
        (TradingState, state.pk),
        (RestrictedInstrument, restriction.pk),
        (AccountRoute, AccountRoute.objects.get(account=account).pk),
    ]
    for model, pk in expected:
        logged = list(entries_for(model, pk).filter(id__gt=mark))
        assert logged, f"no audit entry for {model.__name__}"
        for entry in logged:
            assert (entry.actor_id, entry.remote_addr, entry.cid) == (officer.pk, "10.1.2.3", "corr-test-1")
    halted = entries_for(TradingState, state.pk).last()
    assert halted.changes_dict["reason"][1] == "investigation 42"
    deleted = entries_for(RestrictedInstrument, restriction.pk).last()
    assert deleted.action == LogEntry.Action.DELETE


def test_grants_and_group_membership_are_logged(officer, account):
    with as_actor(officer):
        client = UserFactory(username="grantee")
        account_access_grant(actor=officer, account=account, user=client, permissions=["trade"])
        Group.objects.get(name=COMPLIANCE).user_set.add(client)
    from apps.accounts.models import TradingAccountUserObjectPermission

    grants = TradingAccountUserObjectPermission.objects.filter(user=client)
    assert grants.count() == 2
    for grant in grants:
        (entry,) = entries_for(TradingAccountUserObjectPermission, grant.pk)
        assert entry.actor_id == officer.pk and entry.action == LogEntry.Action.CREATE
    group = Group.objects.get(name=COMPLIANCE)
    # Added from the group's side, the m2m change is logged on the group, naming the user.
    (membership,) = [e for e in entries_for(Group, group.pk) if "grantee" in json.dumps(e.changes_dict)]
    assert membership.actor_id == officer.pk


def test_without_a_request_the_system_actor_is_named(instrument):
    reference_price_set(actor=system_actor(), instrument=instrument, price="99.00")
    entry = entries_for(ReferencePrice).last()
    assert entry.actor_id == system_actor().pk and entry.cid


def test_passwords_are_masked_and_last_login_is_not_noise(db):
    user = UserFactory(username="masked")
    user.set_password("a new secret passphrase")
    user.save()
    entry = entries_for(type(user), user.pk).last()
    assert "a new secret" not in json.dumps(entry.changes_dict)
    assert "password" in entry.changes_dict and "*" in entry.changes_dict["password"][1]


def test_an_api_change_is_attributed_to_the_token_user(officer, instrument):
    Group.objects.get(name="operations").user_set.add(officer)
    client = client_for(officer)
    response = client.post(
        f"/api/v1/instruments/{instrument.symbol}/prices/",
        {"price": "102.00"},
        format="json",
        HTTP_X_CORRELATION_ID="api-corr-7",
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 201
    entry = entries_for(ReferencePrice).last()
    assert (entry.actor_id, entry.remote_addr, entry.cid) == (officer.pk, "192.0.2.10", "api-corr-7")


def test_an_admin_change_is_attributed_to_the_session_user(client, instrument):
    officer = UserFactory(username="admin-officer", is_staff=True)
    Group.objects.get(name=COMPLIANCE).user_set.add(officer)
    client.force_login(officer)
    response = client.post(
        "/admin/risk/restrictedinstrument/add/",
        {"instrument": instrument.pk, "reason": "admin test"},
        REMOTE_ADDR="198.51.100.5",
        HTTP_X_CORRELATION_ID="admin-corr-1",
    )
    assert response.status_code == 302, response.content[:2000]
    restriction = RestrictedInstrument.objects.get(instrument=instrument)
    (entry,) = entries_for(RestrictedInstrument, restriction.pk)
    assert (entry.actor_id, entry.remote_addr, entry.cid) == (officer.pk, "198.51.100.5", "admin-corr-1")
    assert entry.changes_dict["reason"] == [None, "admin test"] or entry.changes_dict["reason"][1] == "admin test"


def test_security_events_for_admin_and_api_log_ins(client, db):
    UserFactory(username="sec", is_staff=True)
    assert not client.login(username="sec", password="wrong")
    assert client.login(username="sec", password=PASSWORD)
    client.logout()
    from rest_framework.test import APIClient

    api = APIClient()
    api.post("/api/v1/auth/token/", {"username": "sec", "password": "nope"}, format="json")
    tokens = api.post("/api/v1/auth/token/", {"username": "sec", "password": PASSWORD}, format="json").json()
    api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    kinds = list(SecurityEvent.objects.filter(username="sec").order_by("id").values_list("kind", "channel"))
    assert [k for k, _ in kinds] == [
        "login_failed",
        "login",
        "logout",
        "login_failed",
        "token_issued",
        "token_refreshed",
    ]
    assert [c for _, c in kinds][-3:] == ["api", "api", "api"]


@pytest.mark.django_db(transaction=True)
def test_the_audit_log_is_append_only_in_the_database(instrument):
    reference_price_set(actor=system_actor(), instrument=instrument, price="98.00")
    entry = LogEntry.objects.order_by("id").last()
    for sql in (
        "UPDATE auditlog_logentry SET changes_text = 'x' WHERE id = %s",
        "DELETE FROM auditlog_logentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert LogEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_celery_task_change_names_the_system_actor(instrument, tmp_path: Path):
    from plugins.paper.tasks import random_walk_task
    from tests.workers import running_worker

    before = entries_for(ReferencePrice).count()
    with running_worker(tmp_path, extra_env={"PAPER_RANDOM_WALK": "true"}) as worker:
        task_id = worker.send(random_walk_task)
        worker.wait_for(r"paper random walk: \d+ moves")
    deadline = time.monotonic() + 10
    while entries_for(ReferencePrice).count() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    entry = entries_for(ReferencePrice).last()
    assert entries_for(ReferencePrice).count() > before
    assert entry.actor_id == system_actor().pk
    assert entry.cid == task_id
