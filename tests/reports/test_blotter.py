"""The trade blotter: every event and fill of the business date, figures against the records,
terms as they stood at each event, nothing from after the close, byte-identical re-runs."""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Fill, Order, OrderEvent
from apps.orders.placement import order_place
from apps.orders.services import order_replace
from apps.reports.generators import blotter
from apps.reports.kinds import KINDS, Scope
from apps.reports.periods import period_for
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

FRIDAY = date(2026, 12, 4)  # period: Thu 2026-12-03 21:00 -> Fri 2026-12-04 21:00 UTC
_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def place(actor, account, when, symbol="ACME", side="buy", qty="10", limit="100.00", tif="day") -> Order:
    with time_machine.travel(when, tick=False):
        return order_place(
            actor=actor,
            account=account,
            symbol=symbol,
            side=side,
            type="limit",
            quantity=qty,
            limit_price=limit,
            time_in_force=tif,
            client_order_id=f"b{next(_ids)}",
        )


def report(order, exec_type, when, qty="0", price=None, fee="0", **kw) -> None:
    item = ExecutionReport(
        exec_id=f"BX{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        fee=Decimal(fee),
        broker_time=when,
        **kw,
    )
    with time_machine.travel(when, tick=False):
        assert intake.receive("paper", item) == "applied"


@pytest.fixture
def day(actor):
    """Thursday: ACME (100.00) and BETA (50.00) listed, two funded clients; a GTC order placed
    (previous period). Friday: it is resized to 8 (confirmed); client A buys 10 ACME in two fills,
    client B buys 20 BETA in one, A's oversized order is refused by risk. After Friday's close:
    the GTC order is resized to 9 and A buys 1 ACME (both Monday's)."""
    with time_machine.travel(at(3, 10), tick=False):
        for symbol, price in (("ACME", "100.00"), ("BETA", "50.00")):
            inst = instrument_create(
                actor=actor, symbol=symbol, name=symbol, currency="USD", tick_size="0.01", lot_size="1"
            )
            reference_price_set(actor=actor, instrument=inst, price=price)
        a, b = TradingAccountFactory(), TradingAccountFactory()
        ledger.cash_deposit(actor=actor, trading_account=a, currency="USD", amount="50000", idempotency_key="a")
        ledger.cash_deposit(actor=actor, trading_account=b, currency="USD", amount="50000", idempotency_key="b")
    gtc = place(actor, a, at(3, 20), qty="5", tif="gtc")
    report(gtc, ExecType.NEW, at(3, 20, 0, 1))
    with time_machine.travel(at(4, 10), tick=False):
        order_replace(actor=actor, order_id=gtc.pk, quantity="8")
    report(gtc, ExecType.REPLACED, at(4, 10, 0, 1), quantity=Decimal("8"), limit_price=Decimal("100.00"))
    buy = place(actor, a, at(4, 14))
    report(buy, ExecType.PARTIAL_FILL, at(4, 14, 1), "4", "99.50", "1.00")
    report(buy, ExecType.FILL, at(4, 14, 2), "6", "100.00", "1.00")
    beta = place(actor, b, at(4, 15), symbol="BETA", qty="20", limit="50.00")
    report(beta, ExecType.FILL, at(4, 15, 5), "20", "49.90", "2.00")
    refused = place(actor, a, at(4, 16), qty="100000")
    assert refused.status == "rejected"
    with time_machine.travel(at(4, 21, 30), tick=False):
        order_replace(actor=actor, order_id=gtc.pk, quantity="9")
    report(gtc, ExecType.REPLACED, at(4, 21, 30, 1), quantity=Decimal("9"), limit_price=Decimal("100.00"))
    late = place(actor, a, at(4, 21, 31), qty="1")
    report(late, ExecType.FILL, at(4, 21, 32), "1", "100.00")
    return {"a": a, "b": b, "gtc": gtc, "buy": buy, "beta": beta, "refused": refused, "late": late}


def test_registered_as_a_firm_report():
    kind = KINDS["trade_blotter"]
    assert (kind.scope, kind.generate) == (Scope.FIRM, blotter.generate)


def test_events_are_the_periods_in_time_order_with_the_terms_in_force(day):
    period = period_for(FRIDAY)
    pdf, events_csv, fills_csv = blotter.generate(period, None)
    assert [f.name for f in (pdf, events_csv, fills_csv)] == [
        "trade_blotter-2026-12-04.pdf",
        "trade_blotter-2026-12-04-events.csv",
        "trade_blotter-2026-12-04-fills.csv",
    ]
    assert pdf.data.startswith(b"%PDF") and pdf.content_type == "application/pdf"
    table = rows(events_csv.data)
    expected = OrderEvent.objects.filter(at__gte=period.start, at__lt=period.end).order_by("at", "id")
    assert [int(r["event_id"]) for r in table] == [e.pk for e in expected]
    assert len(table) == 11  # gtc: replace requested, replaced; buy: 2 + 2 fills; beta: 2 + fill; refused: 2
    assert all(period.start <= datetime.fromisoformat(r["at"]) < period.end for r in table)
    assert day["late"].pk not in {int(r["order_id"]) for r in table}  # placed after the close
    # the GTC order is 9 today, but was 8 after Friday's confirmed replace (and 5 before it)
    day["gtc"].refresh_from_db()
    assert day["gtc"].quantity == 9
    gtc = [r for r in table if int(r["order_id"]) == day["gtc"].pk]
    assert [(r["kind"], r["quantity"], r["status_after"]) for r in gtc] == [
        ("replace_requested", "5", "pending_replace"),
        ("replaced", "8", "new"),
    ]
    fills = [r for r in table if r["kind"] in ("partially_filled", "filled")]
    booked = {f.exec_id: f for f in Fill.objects.filter(booked_at__lt=period.end)}
    assert len(fills) == 3
    for row in fills:
        fill = booked[row["fill_exec_id"]]
        assert (Decimal(row["fill_quantity"]), Decimal(row["fill_price"]), Decimal(row["fill_fee"])) == (
            fill.quantity,
            fill.price,
            fill.fee,
        )
    refused = next(r for r in table if r["kind"] == "risk_rejected")
    assert (refused["account"], refused["symbol"], refused["quantity"], refused["limit_price"]) == (
        day["a"].number,
        "ACME",
        "100000",
        "100",
    )
    assert refused["broker"] == ""  # refused at placement: never given a broker
    assert {r["broker"] for r in table if r["kind"] not in ("received", "risk_rejected")} == {"paper"}


def test_fills_and_notional_match_the_ledger_records(day):
    period = period_for(FRIDAY)
    _, _, fills_csv = blotter.generate(period, None)
    table = rows(fills_csv.data)
    fills = Fill.objects.filter(booked_at__gte=period.start, booked_at__lt=period.end).order_by("booked_at", "id")
    assert [r["exec_id"] for r in table] == [f.exec_id for f in fills]
    assert len(table) == 3
    assert sum(Decimal(r["notional"]) for r in table) == Decimal("1996.00")  # 398 + 600 + 998
    assert sum(Decimal(r["fee"]) for r in table) == Decimal("4.00")
    by_account = {r["account"] for r in table}
    assert by_account == {day["a"].number, day["b"].number}


def test_a_rerun_gives_the_same_bytes_whatever_happens_later(day, actor, django_assert_num_queries):
    period = period_for(FRIDAY)
    with django_assert_num_queries(2):  # the timeline and the fills, however many rows
        first = blotter.generate(period, None)
    place(actor, day["b"], at(5, 10), symbol="BETA", qty="1", limit="50.00")  # Saturday: Monday's business
    second = blotter.generate(period, None)
    assert [f.data for f in first] == [f.data for f in second]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_summary_shows_the_counts_and_top_accounts(day):
    pdf = blotter.generate(period_for(FRIDAY), None)[0]
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout
    page = text.decode()
    assert "Trade blotter 2026-12-04" in page
    assert day["a"].number in page and day["b"].number in page
    assert page.count("998.00") >= 2  # A's ACME (398 + 600) and B's BETA (20 x 49.90)
    assert "1,996.00" not in page  # per symbol and per account, never summed across them
