"""The admin under its Content-Security-Policy, in a real headless Chromium: the header is sent,
and neither the index (the compliance desk, its style a static file) nor a change form (with
its inline, calendar and clock widgets) triggers a single CSP violation in the console. The
change form saves a reference price through its service in a real transaction (no test
transaction around it: the admin's page must not wrap the service's durable one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.instruments.models import PriceObservation
from tests.browser.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def watch_console(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda message: seen.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    return seen


def test_admin_pages_run_under_the_policy_without_a_violation(  # type: ignore[no-untyped-def]
    page, compliance_user, ops_user, instrument
):
    seen = watch_console(page)
    admin_login(page, compliance_user.username)
    response = page.goto("/admin/")
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.locator("#desk").is_visible()
    # the desk's stylesheet applies (the grid), loaded from a static file
    assert page.locator("#desk .desk-grid").evaluate("e => getComputedStyle(e).display") == "grid"
    page.goto("/admin/risk/risklimits/add/")
    assert page.locator("#risklimits_form").is_visible()
    page.context.clear_cookies()

    admin_login(page, ops_user.username)
    page.goto(f"/admin/instruments/instrument/{instrument.pk}/change/")
    page.locator(".datetimeshortcuts").first.wait_for()  # the admin's widget scripts ran
    before = PriceObservation.objects.filter(instrument=instrument).count()
    page.fill("#id_reference_price-0-price", "101.50")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/instruments/instrument/")
    assert PriceObservation.objects.filter(instrument=instrument).count() == before + 1
    instrument.reference_price.refresh_from_db()
    assert instrument.reference_price.price == Decimal("101.50")

    violations = [line for line in seen if "Content Security Policy" in line or line.startswith("pageerror")]
    assert violations == []
