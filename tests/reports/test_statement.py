"""The daily statement and the end-of-day positions: figures against the ledger, as of a date."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from apps.reports.generators import positions, statement
from apps.reports.periods import period_for
from apps.reports.valuation import valuation_as_of
from tests.reports.scenario import MONDAY, TUESDAY, build

pytestmark = pytest.mark.django_db


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def summary(table: list[dict[str, str]], what: str) -> Decimal:
    return Decimal(next(r["balance"] for r in table if r["section"] == "summary" and r["description"] == what))


@pytest.fixture
def scenario(actor):
    return build(actor)


def test_valuation_as_of_reads_the_ledger_and_the_price_history(scenario):
    monday = valuation_as_of(at=period_for(MONDAY).end, account_id=scenario.account.pk)
    assert monday.base_cash == Decimal("48999.00")  # 50,000 - 1,000 - 1.00 fee; the 22:00 deposit is Tuesday's
    (acme,) = monday.positions
    assert (acme.quantity, acme.price, acme.cost_basis) == (Decimal(10), Decimal("110.00"), Decimal("1001.00"))
    assert acme.unrealized_pnl == Decimal("99.00")
    assert monday.equity == Decimal("50099.00")
    tuesday = valuation_as_of(at=period_for(TUESDAY).end, account_id=scenario.account.pk)
    assert tuesday.base_cash == Decimal("50446.00")  # + 1,000 deposit + 448 proceeds - 1.00 fee
    (acme,) = tuesday.positions
    # the 23:00 price (120) is after Tuesday's close: valued at 112
    assert (acme.quantity, acme.price, acme.cost_basis) == (Decimal(6), Decimal("112.00"), Decimal("600.60"))
    assert acme.realized_pnl == Decimal("46.60")  # 448 - 1 - 1001 * 4/10


def test_statement_figures_match_the_ledger(scenario):
    files = statement.generate(period_for(TUESDAY), scenario.account.pk)
    pdf, csv_file = files
    assert pdf.data.startswith(b"%PDF") and pdf.name == f"statement-{scenario.account.number}-2026-12-01.pdf"
    table = rows(csv_file.data)
    opening = next(r for r in table if r["section"] == "opening_cash")
    closing = next(r for r in table if r["section"] == "closing_cash")
    assert (Decimal(opening["balance"]), Decimal(closing["balance"])) == (Decimal("48999.00"), Decimal("50446.00"))
    entries = [r for r in table if r["section"] == "entry"]
    # opening + the period's entries on available and reserved cash = closing
    moved = sum(Decimal(r["amount"]) for r in entries if r["asset"] == "USD")
    assert Decimal("48999.00") + moved == Decimal("50446.00")
    kinds = {r["kind"] for r in entries}
    assert {"deposit", "fill"} <= kinds
    assert summary(table, "fees") == Decimal("1.00")
    assert summary(table, "realized_pnl_today") == Decimal("46.60")
    assert summary(table, "unrealized_pnl") == Decimal("71.40")  # 6 x 112 - 600.60
    assert summary(table, "equity") == Decimal("51118.00")  # 50,446 + 672


def test_statement_before_any_trade_and_for_an_idle_account(scenario):
    table = rows(statement.generate(period_for(MONDAY), scenario.other.pk)[1].data)
    assert [r["section"] for r in table if r["section"] in ("opening_cash", "closing_cash")] == [
        "opening_cash",
        "closing_cash",
    ]
    assert {Decimal(r["balance"]) for r in table if r["section"].endswith("_cash")} == {Decimal("5000.00")}
    assert not [r for r in table if r["section"] == "entry"]


def test_statement_is_byte_identical_when_generated_again_after_more_activity(scenario, actor):
    first = statement.generate(period_for(MONDAY), scenario.account.pk)
    # later activity (Tuesday's sell, a later price) was already there; add more now
    from apps.ledger import services as ledger

    ledger.cash_deposit(actor=actor, trading_account=scenario.account, currency="USD", amount="7", idempotency_key="x")
    again = statement.generate(period_for(MONDAY), scenario.account.pk)
    assert [f.data for f in first] == [f.data for f in again]


def test_eod_positions_per_account_and_firm_wide(scenario):
    pdf, positions_csv, accounts_csv = positions.generate(period_for(MONDAY), None)
    assert pdf.data.startswith(b"%PDF")
    (line,) = rows(positions_csv.data)
    assert line["account"] == scenario.account.number and line["symbol"] == "ACME"
    assert (Decimal(line["quantity"]), Decimal(line["closing_price"])) == (Decimal(10), Decimal("110.00"))
    assert Decimal(line["market_value"]) == Decimal("1100") and Decimal(line["unrealized_pnl"]) == Decimal("99")
    accounts = {r["account"]: r for r in rows(accounts_csv.data)}
    assert Decimal(accounts[scenario.other.number]["equity"]) == Decimal("5000.00")
    assert Decimal(accounts["FIRM"]["equity"]) == Decimal("55099.00")
    assert Decimal(accounts["FIRM"]["gross_exposure"]) == Decimal("1100")
