"""Browser fixtures: a real headless Chromium (Debian's ``chromium``, never Playwright's own
download) driven by Playwright's sync API against pytest-django's ``live_server``.

- The browser path is ``$CHROMIUM_PATH``, else ``chromium`` on ``PATH``, else
  ``/usr/bin/chromium``; ``scripts/ensure_chromium.sh`` installs it (``make test`` and ``.ci/run``
  call it). A missing browser fails the tests loudly: they are never skipped.
- Playwright's sync API keeps an asyncio loop running in the test thread, and Django refuses
  ORM calls from a thread with a running loop. ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set for this
  package's tests only (module scope, restored afterwards, and the loop is stopped with the
  browser, so tests that run later are unaffected). The ORM calls here are ordinary blocking
  calls in the test thread; nothing is actually shared with the loop.
- On failure, a full-page screenshot and the page's HTML are saved to the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from tests.compliance.admin_support import staff

#: Navigation and assertion timeout (ms): generous for a loaded CI machine, short enough to fail fast.
TIMEOUT_MS = 15_000


def chromium_path() -> str:
    configured = os.environ.get("CHROMIUM_PATH", "").strip()
    candidates = [configured] if configured else [shutil.which("chromium") or "", "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"No Chromium for the browser tests (looked at {', '.join(c for c in candidates if c) or 'PATH'}). "
        "Install Debian's package `chromium` (scripts/ensure_chromium.sh does it as root) "
        "or set CHROMIUM_PATH to a Chromium binary.",
        pytrace=False,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
            try:
                yield launched
            finally:
                launched.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Any, live_server: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test, with ``base_url`` set to the live server."""
    cache.clear()  # failed-log-in counters, throttles
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            try:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                (tmp_path / "failure.html").write_text(page.content())
                print(f"browser: screenshot and HTML of the failing page in {tmp_path}")  # noqa: T201
            except Exception as exc:  # the page may be gone; never hide the real failure
                print(f"browser: no screenshot ({exc})")  # noqa: T201
        context.close()


PASSWORD_PREFIX = "pw-"  # tests.compliance.admin_support.staff sets the password to "pw-<username>"


def admin_login(page: Any, username: str) -> None:
    """Log in through the admin's own login form with the user's real password."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD_PREFIX + username)
    page.click("#login-form input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#user-tools").count() == 1, "not logged in"


@pytest.fixture
def compliance_user(db: Any) -> Any:
    from apps.users.roles import COMPLIANCE

    return staff("carla", COMPLIANCE)


@pytest.fixture
def ops_user(db: Any) -> Any:
    from apps.users.roles import OPERATIONS

    return staff("oscar", OPERATIONS)
