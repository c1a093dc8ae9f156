"""Clients read their own statements through the API; firm-wide reports are for staff only."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Group

from apps.accounts.services import account_access_grant
from apps.reports.services import report_run_execute
from apps.users.roles import COMPLIANCE
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.reports.scenario import MONDAY, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(actor):
    scenario = build(actor)
    client = UserFactory(username="holder")
    account_access_grant(actor=actor, account=scenario.account, user=client, permissions=["view"])
    own = report_run_execute(actor=actor, kind="statement", business_date=MONDAY, account_id=scenario.account.pk)
    other = report_run_execute(actor=actor, kind="statement", business_date=MONDAY, account_id=scenario.other.pk)
    firm = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY)
    return client, own, other, firm


def test_a_client_lists_and_downloads_only_their_own_statements(runs):
    client, own, other, firm = runs
    api = client_for(client)
    listed = api.get("/api/v1/reports/").json()["results"]
    assert [r["id"] for r in listed] == [own.pk]
    assert listed[0]["account_number"] == own.account.number and listed[0]["kind"] == "statement"
    assert [f["name"] for f in listed[0]["files"]] == [f.name for f in own.files.order_by("id")]
    pdf = api.get(f"/api/v1/reports/{own.pk}/download/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == pdf["X-Content-SHA256"] == own.files.order_by("id")[0].sha256
    csv_name = own.files.get(content_type="text/csv").name
    csv_file = api.get(f"/api/v1/reports/{own.pk}/download/", {"file": csv_name})
    assert csv_file.status_code == 200 and csv_file.content.startswith(b"section,")
    for run in (other, firm):  # someone else's statement and a firm-wide report do not exist for them
        response = api.get(f"/api/v1/reports/{run.pk}/download/")
        assert (response.status_code, response.json()["code"]) == (404, "report_not_found")
    missing = api.get(f"/api/v1/reports/{own.pk}/download/", {"file": "../../etc/passwd"})
    assert (missing.status_code, missing.json()["code"]) == (404, "report_file_not_found")


def test_staff_see_firm_wide_reports_and_filter_by_kind(runs):
    _, own, other, firm = runs
    officer = UserFactory(username="officer", is_staff=True)
    Group.objects.get(name=COMPLIANCE).user_set.add(officer)
    api = client_for(officer)
    assert {r["id"] for r in api.get("/api/v1/reports/").json()["results"]} == {own.pk, other.pk, firm.pk}
    assert [r["id"] for r in api.get("/api/v1/reports/", {"kind": "eod_positions"}).json()["results"]] == [firm.pk]
    assert api.get("/api/v1/reports/", {"kind": "nonsense"}).status_code == 400
    assert api.get(f"/api/v1/reports/{firm.pk}/download/").status_code == 200
