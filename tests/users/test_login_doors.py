"""The admin's log-in form and the API's token view share one log-in policy
(apps/users/login_guard.py): failed log-ins on either door count against one per-name counter,
a locked-out name is refused on both (even with the right password), attempts are throttled per
client address, and each failure or refusal is one security event."""

from __future__ import annotations

import pytest

from apps.compliance.models import SecurityEvent
from apps.users.login_guard import LoginRateThrottle
from tests.users.conftest import admin_login, api_login, form_errors

pytestmark = pytest.mark.django_db


def events(username: str) -> list[tuple[str, str]]:
    return list(SecurityEvent.objects.filter(username=username).order_by("id").values_list("kind", "channel"))


@pytest.fixture(autouse=True)
def _three_failures_lock(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_FAILURE_LIMIT = 3


def test_admin_failures_lock_the_name_on_both_doors(staff):
    for _ in range(3):
        failed = admin_login("door-staff", "wrong")
        assert failed.status_code == 200 and [e.code for e in failed.context["form"].errors.as_data()["__all__"]] == [
            "invalid_login"
        ]
    locked = admin_login("door-staff")  # the right password
    assert locked.status_code == 200 and "_auth_user_id" not in locked.wsgi_request.session
    (message,) = form_errors(locked)
    assert "locked" in message and "15 minutes" in message
    api = api_login("door-staff")
    assert (api.status_code, api.json()["code"]) == (429, "login_locked")
    assert events("door-staff") == [
        *[("login_failed", "admin")] * 3,
        ("locked_out", "admin"),
        ("locked_out", "api"),
    ]


def test_api_failures_lock_the_admin_and_the_doors_count_together(staff):
    assert api_login("door-staff", "wrong").status_code == 401
    assert admin_login("door-staff", "wrong").status_code == 200
    assert api_login("door-staff", "wrong").status_code == 401
    locked = admin_login("door-staff")
    assert locked.status_code == 200 and "locked" in form_errors(locked)[0]
    assert api_login("door-staff").status_code == 429
    assert admin_login("someone-else", "wrong").status_code == 200  # other names are not locked
    assert events("door-staff") == [
        ("login_failed", "api"),
        ("login_failed", "admin"),
        ("login_failed", "api"),
        ("locked_out", "admin"),
        ("locked_out", "api"),
    ]


def test_a_successful_admin_log_in_clears_the_count(staff):
    for _ in range(2):
        admin_login("door-staff", "wrong")
    ok = admin_login("door-staff")
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    for _ in range(2):
        api_login("door-staff", "wrong")
    assert admin_login("door-staff").status_code == 302
    assert [kind for kind, _ in events("door-staff")] == ["login_failed"] * 2 + ["login"] + ["login_failed"] * 2 + [
        "login"
    ]


def test_admin_log_ins_are_throttled_per_client_address_with_the_api(staff, monkeypatch):
    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"auth": "3/min"})
    here, there = {"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.2"}
    assert admin_login("door-staff", "wrong", **here).status_code == 200
    assert api_login("door-staff", "wrong", **here).status_code == 401
    assert admin_login("door-staff", **here).status_code == 302
    throttled = admin_login("door-staff", **here)  # the right password, the address's budget spent
    assert throttled.status_code == 200 and "_auth_user_id" not in throttled.wsgi_request.session
    assert "Too many log-in attempts from your address" in form_errors(throttled)[0]
    assert api_login("door-staff", **here).status_code == 429
    assert admin_login("door-staff", **there).status_code == 302  # another address
    # A throttled attempt is not an authentication: no event, no failure counted.
    assert [kind for kind, _ in events("door-staff")] == ["login_failed", "login_failed", "login", "login"]
