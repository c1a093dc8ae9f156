"""The compliance desk in a real headless Chromium: a compliance user logs in, lands on the desk,
follows an exception queue's link to the queue, and downloads a statement from the day's report
runs; the PDF's text (``pdftotext``, Debian's poppler-utils) names the account and its closing
cash balance."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from apps.accounts.services import trading_account_create
from apps.core.actors import system_actor
from apps.desk.selectors import report_day
from apps.orders.placement import order_place
from apps.reports.periods import period_for
from apps.reports.services import report_run_execute
from tests.browser.conftest import admin_login
from tests.compliance.admin_support import fund
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def pdf_text(path: Any) -> str:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail(
            "pdftotext is missing: install Debian's poppler-utils (scripts/ensure_chromium.sh does it as root)",
            pytrace=False,
        )
    return subprocess.run([pdftotext, "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_compliance_user_follows_a_queue_from_the_desk_and_downloads_a_statement(  # type: ignore[no-untyped-def]
    page, compliance_user, instrument, tmp_path
):
    actor = system_actor()
    day = report_day()
    with time_machine.travel(period_for(day).end - timedelta(hours=2), tick=False):  # inside the day's period
        account = trading_account_create(
            actor=actor, name="Desk client", base_currency="USD", owner=UserFactory(username="dora")
        )
        fund(account, actor, amount="12345.67")
    rejected = order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1000000",  # far beyond the cash: refused by risk, into the queue
        limit_price="100.00",
        time_in_force="day",
    )
    assert rejected.status == "rejected"
    run = report_run_execute(kind="statement", business_date=day, account_id=account.pk, actor=actor, trigger="manual")
    assert run.status == "succeeded", run.error

    admin_login(page, compliance_user.username)
    queue_row = page.locator('#desk-queues tr[data-queue="risk_rejection"]')
    assert queue_row.locator("td").inner_text().strip() == "1"
    queue_row.locator("a").click()
    page.wait_for_url("**/admin/compliance/riskrejection/?reviewed=no")
    assert "risk rejection" in page.locator("h1").inner_text().lower()
    assert page.locator("#result_list tbody tr").count() == 1

    page.goto("/admin/")
    link = page.locator(f'#desk-report-runs tr[data-run="{run.pk}"] a.desk-file', has_text=".pdf")
    with page.expect_download() as info:
        link.click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.read_bytes().startswith(b"%PDF")
    text = pdf_text(target)
    assert account.number in text
    closing = next(line for line in text.splitlines() if "Closing cash balance" in line)
    assert f"{Decimal('12345.67'):,}" in closing, closing
