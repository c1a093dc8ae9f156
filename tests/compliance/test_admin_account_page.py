"""The account page: balances, positions, open orders; the statement for a date range as a
page and as CSV (exact decimals, UTC microsecond times, opening and closing balances)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.ledger.models import JournalEntry
from apps.users.roles import COMPLIANCE
from tests.compliance.admin_support import buy, fund, order_with_fills, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_user(db):  # type: ignore[no-untyped-def]
    return staff("carla", COMPLIANCE)


@pytest.fixture
def busy(account, instrument, actor):  # type: ignore[no-untyped-def]
    fund(account, actor, "1000.50")
    order_with_fills(actor, account, 2)  # 2 shares bought, 1 left open
    buy(actor, account, quantity="1")
    return account


def period() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": str(today - timedelta(days=1)), "end": str(today)}


def test_the_overview_shows_balances_positions_and_open_orders(client, busy, compliance_user) -> None:
    client.force_login(compliance_user)
    change = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/change/").content.decode()
    assert f'href="/admin/accounts/tradingaccount/{busy.pk}/overview/"' in change
    html = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/overview/").content.decode()
    assert 'id="account-balances"' in html and "USD" in html
    positions = html.split('id="account-positions"')[1].split("</table>")[0]
    assert "ACME" in positions
    open_orders = html.split('id="account-open-orders"')[1].split("</table>")[0]
    assert open_orders.count("/timeline/") == 2
    assert f'action="/admin/accounts/tradingaccount/{busy.pk}/statement/"' in html


def test_the_statement_page_and_its_csv_agree_with_the_ledger(client, busy, compliance_user) -> None:
    client.force_login(compliance_user)
    page = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/statement/", period())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Opening balance" in html and "Closing balance" in html and "1000.50" in html
    assert f"/admin/accounts/tradingaccount/{busy.pk}/statement.csv?" in html

    response = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/statement.csv", period())
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    entries = [r for r in rows if r["line"] == "entry"]
    assert len(entries) == JournalEntry.objects.filter(ledger_account__trading_account=busy).count()
    for row in entries:
        assert row["posted_at_utc"].endswith("Z") and len(row["posted_at_utc"].split(".")[1]) == 7
        assert "E" not in row["amount"] and "e" not in row["amount"]
    deposit = next(r for r in entries if r["transaction_kind"] == "deposit")
    assert deposit["amount"] == "1000.50" and deposit["purpose"] == "cash_available"
    # Per ledger account: opening + lines = closing, and closing is the stored balance.
    from apps.ledger.models import LedgerAccount

    for ledger_account in LedgerAccount.objects.filter(trading_account=busy):
        mine = [r for r in rows if r["ledger_account_id"] == str(ledger_account.pk)]
        opening = Decimal(next(r["balance_after"] for r in mine if r["line"] == "opening"))
        closing = Decimal(next(r["balance_after"] for r in mine if r["line"] == "closing"))
        assert opening == 0
        assert opening + sum(Decimal(r["amount"]) for r in mine if r["line"] == "entry") == closing
        assert closing == ledger_account.balance


def test_a_period_before_the_activity_has_no_lines_and_zero_balances(client, busy, compliance_user) -> None:
    client.force_login(compliance_user)
    response = client.get(
        f"/admin/accounts/tradingaccount/{busy.pk}/statement.csv", {"start": "2020-01-01", "end": "2020-01-31"}
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and {r["line"] for r in rows} == {"opening", "closing"}
    assert rows[0]["posted_at_utc"] == "2020-01-01T00:00:00.000000Z"
    assert {r["posted_at_utc"] for r in rows if r["line"] == "closing"} == {"2020-02-01T00:00:00.000000Z"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"start": "2026-01-02"},
        {"start": "yesterday", "end": "2026-01-02"},
        {"start": "2026-02-30", "end": "2026-03-01"},
        {"start": "2026-03-02", "end": "2026-03-01"},
    ],
)
def test_a_bad_period_is_refused_with_a_clear_error(client, busy, compliance_user, params) -> None:
    client.force_login(compliance_user)
    page = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/statement/", params)
    assert page.status_code == 400
    assert "errorlist" in page.content.decode()
    csv_response = client.get(f"/admin/accounts/tradingaccount/{busy.pk}/statement.csv", params)
    assert csv_response.status_code == 400
    assert csv_response.content.decode().startswith("Invalid statement period")


def test_account_pages_need_the_view_permission(client, busy) -> None:
    client.force_login(staff("nobody"))
    for suffix in (
        "overview/",
        "statement/?start=2026-01-01&end=2026-01-02",
        "statement.csv?start=2026-01-01&end=2026-01-02",
    ):
        assert client.get(f"/admin/accounts/tradingaccount/{busy.pk}/{suffix}").status_code == 403
    client.force_login(staff("carla2", COMPLIANCE))
    assert client.get("/admin/accounts/tradingaccount/99999999/overview/").status_code == 404
