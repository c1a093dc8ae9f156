"""The exceptions report: what was open in each queue at the period's end, with its age; later
reviews, acknowledgements and new items never change a past date's bytes."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord
from apps.compliance.models import AlertKind, ReconciliationBreak
from apps.compliance.services import compliance_alert_acknowledge, compliance_alert_raise, exception_review_record
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from apps.orders.services import order_cancel
from apps.reports.generators import exceptions
from apps.reports.kinds import KINDS, Scope
from apps.reports.periods import period_for
from tests.factories import TradingAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

FRIDAY = date(2026, 12, 4)  # period: Thu 2026-12-03 21:00 -> Fri 2026-12-04 21:00 UTC
_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def place(actor, account, when, qty="10"):
    with time_machine.travel(when, tick=False):
        return order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity=qty,
            limit_price="100.00",
            time_in_force="day",
            client_order_id=f"e{next(_ids)}",
        )


def receive(order, exec_type, when, qty="0", price=None) -> str:
    item = ExecutionReport(
        exec_id=f"EX{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        fee=Decimal(0),
        broker_time=when,
    )
    with time_machine.travel(when, tick=False):
        return intake.receive("paper", item)


def rejected(actor, account, when):
    order = place(actor, account, when, qty="100000")  # beyond the limits and the cash
    assert order.status == "rejected"
    return order


def review(user, queue, item, when):
    with time_machine.travel(when, tick=False):
        exception_review_record(actor=user, queue=queue, object_ids=[item.pk], note="looked at it")


def a_break(account, when, summary="position 5 but the ledger holds 3"):
    return ReconciliationBreak.objects.create(
        kind="position_vs_ledger", account=account, summary=summary, details={}, found_at=when
    )


def alert(when, summary):
    with time_machine.travel(when, tick=False):
        return compliance_alert_raise(kind=AlertKind.LEDGER_VERIFICATION_FAILED, summary=summary)


def acknowledge(user, item, when):
    with time_machine.travel(when, tick=False):
        compliance_alert_acknowledge(actor=user, alert_ids=[item.pk])


@pytest.fixture
def day(actor):
    """Friday's exceptions, some reviewed before the close, some only after it, some after it."""
    supervisor = UserFactory(username="supervisor", is_staff=True)
    with time_machine.travel(at(3, 10), tick=False):
        inst = instrument_create(
            actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
        )
        reference_price_set(actor=actor, instrument=inst, price="100.00")
        account = TradingAccountFactory()
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="x")
    items = {
        "open_rejection": rejected(actor, account, at(4, 9)),
        "reviewed_rejection": rejected(actor, account, at(4, 9, 30)),
        "reviewed_later": rejected(actor, account, at(4, 10)),
    }
    review(supervisor, "risk_rejection", items["reviewed_rejection"], at(4, 12))
    late = place(actor, account, at(4, 10, 30))
    with time_machine.travel(at(4, 10, 40), tick=False):
        order_cancel(actor=actor, order_id=late.pk)
    assert receive(late, ExecType.CANCELED, at(4, 10, 45)) in ("applied", "duplicate")
    assert receive(late, ExecType.PARTIAL_FILL, at(4, 11), "2", "100.00") == "applied"
    items["late_fill"] = late
    overfilled = place(actor, account, at(4, 11, 30))
    assert receive(overfilled, ExecType.FILL, at(4, 12), "11", "100.00") == "dead"  # 11 of 10
    items["dead_letter"] = ExecutionReportRecord.objects.get(order_id=overfilled.pk, status="dead")
    items["break"] = a_break(account, at(4, 13))
    items["open_alert"] = alert(at(4, 14), "ledger verification failed: entry 7")
    items["acknowledged_alert"] = alert(at(4, 15), "ledger verification failed: entry 8")
    acknowledge(supervisor, items["acknowledged_alert"], at(4, 16))
    items["acknowledged_later"] = alert(at(4, 16), "ledger verification failed: entry 9")
    # after the close: new items (Monday's)
    items["next_rejection"] = rejected(actor, account, at(4, 21, 10))
    items["next_break"] = a_break(account, at(4, 21, 30), "found after the close")
    return {"items": items, "account": account, "supervisor": supervisor}


def test_registered_as_a_firm_report():
    kind = KINDS["exceptions"]
    assert (kind.scope, kind.generate) == (Scope.FIRM, exceptions.generate)


def test_lists_what_was_open_at_the_close_with_its_age(day):
    items, number = day["items"], day["account"].number
    pdf, report = exceptions.generate(period_for(FRIDAY), None)
    assert (pdf.name, report.name) == ("exceptions-2026-12-04.pdf", "exceptions-2026-12-04.csv")
    assert pdf.data.startswith(b"%PDF")
    table = [
        (r["queue"], int(r["item_id"]), r["account"], r["created_at"], Decimal(r["age_hours"]))
        for r in rows(report.data)
    ]
    # by queue, then by when the item entered it; ages in hours at 21:00
    assert table == [
        ("risk_rejection", items["open_rejection"].pk, number, "2026-12-04T09:00:00.000000+00:00", Decimal("12.00")),
        ("risk_rejection", items["reviewed_later"].pk, number, "2026-12-04T10:00:00.000000+00:00", Decimal("11.00")),
        ("late_fill", items["late_fill"].pk, number, "2026-12-04T11:00:00.000000+00:00", Decimal("10.00")),
        ("dead_letter", items["dead_letter"].pk, number, "2026-12-04T12:00:00.000000+00:00", Decimal("9.00")),
        ("reconciliation_break", items["break"].pk, number, "2026-12-04T13:00:00.000000+00:00", Decimal("8.00")),
        ("compliance_alert", items["open_alert"].pk, "", "2026-12-04T14:00:00.000000+00:00", Decimal("7.00")),
        ("compliance_alert", items["acknowledged_later"].pk, "", "2026-12-04T16:00:00.000000+00:00", Decimal("5.00")),
    ]
    summaries = {r["queue"]: r["summary"] for r in rows(report.data)}
    assert summaries["late_fill"].startswith("1 fill(s) of 2 ACME")
    assert summaries["reconciliation_break"] == "position_vs_ledger: position 5 but the ledger holds 3"
    assert items["dead_letter"].exec_id in summaries["dead_letter"]


def test_reviews_after_the_close_change_nothing(day, django_assert_num_queries):
    items, supervisor = day["items"], day["supervisor"]
    period = period_for(FRIDAY)
    with django_assert_num_queries(5):  # one per queue and one for the alerts
        first = exceptions.generate(period, None)
    review(supervisor, "risk_rejection", items["reviewed_later"], at(4, 22))
    review(supervisor, "late_fill", items["late_fill"], at(5, 9))
    review(supervisor, "reconciliation_break", items["break"], at(5, 9))
    acknowledge(supervisor, items["acknowledged_later"], at(5, 9))
    second = exceptions.generate(period, None)
    assert [f.data for f in first] == [f.data for f in second]
    # while the next business date's report no longer has them
    monday = rows(exceptions.generate(period_for(date(2026, 12, 7)), None)[1].data)
    ids = {(r["queue"], int(r["item_id"])) for r in monday}
    assert ("risk_rejection", items["reviewed_later"].pk) not in ids
    assert ("risk_rejection", items["next_rejection"].pk) in ids
    assert ("reconciliation_break", items["next_break"].pk) in ids
