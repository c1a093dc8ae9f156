"""The client's address, behind exactly ``TRUSTED_PROXY_COUNT`` proxies: what throttles,
lockouts, security events and the audit log see (apps.core.middleware.client_ip)."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from apps.compliance.models import SecurityEvent
from apps.core import context
from apps.core.middleware import AuditlogMiddleware, RequestContextMiddleware, client_ip
from apps.users.login_guard import LoginRateThrottle
from tests.users.conftest import api_login

XFF = "HTTP_X_FORWARDED_FOR"


@pytest.mark.parametrize(
    ("proxies", "header", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy: the header is anyone's, ignored
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the right-most entry, written by our proxy
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # the second from the right
        (2, "203.0.113.9", "10.0.0.1"),  # fewer entries than proxies: REMOTE_ADDR
        (1, "", "10.0.0.1"),
        (1, "6.6.6.6, not-an-address", "10.0.0.1"),
        (1, "203.0.113.9:4711", "203.0.113.9"),
        (1, "[2001:db8::1]:4711", "2001:db8::1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address(settings, proxies, header, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    extra = {XFF: header} if header else {}
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)) == expected


@pytest.mark.django_db
def test_a_spoofed_header_is_ignored_without_proxies(staff, settings, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 0
    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    for spoof in ("1.1.1.1", "2.2.2.2"):
        assert api_login("door-staff", "wrong", REMOTE_ADDR="10.0.0.1", **{XFF: spoof}).status_code == 401
    assert api_login("door-staff", REMOTE_ADDR="10.0.0.1", **{XFF: "3.3.3.3"}).status_code == 429
    assert set(SecurityEvent.objects.values_list("source_ip", flat=True)) == {"10.0.0.1"}


@pytest.mark.django_db
def test_behind_one_proxy_throttles_and_events_key_on_the_forwarded_address(staff, settings, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for spoof in ("1.1.1.1", "2.2.2.2"):  # what the client wrote varies; the proxy's entry does not
        assert api_login("door-staff", "wrong", **proxy, **{XFF: f"{spoof}, 198.51.100.7"}).status_code == 401
    assert api_login("door-staff", **proxy, **{XFF: "3.3.3.3, 198.51.100.7"}).status_code == 429
    assert api_login("door-staff", **proxy, **{XFF: "198.51.100.8"}).status_code == 200  # another client
    assert list(SecurityEvent.objects.order_by("id").values_list("kind", "source_ip")) == [
        ("login_failed", "198.51.100.7"),
        ("login_failed", "198.51.100.7"),
        ("token_issued", "198.51.100.8"),
    ]


def test_the_request_context_and_the_audit_log_take_the_same_address(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **{XFF: "6.6.6.6, 203.0.113.9, 10.0.0.7"})
    seen = []

    def view(request):  # type: ignore[no-untyped-def]
        seen.append(context.current().source_ip)
        return HttpResponse()

    RequestContextMiddleware(view)(request)
    assert seen == ["203.0.113.9"]  # order events, security events without a request
    assert AuditlogMiddleware._get_remote_addr(request) == "203.0.113.9"  # audit-log entries
    assert "apps.core.middleware.AuditlogMiddleware" in settings.MIDDLEWARE
