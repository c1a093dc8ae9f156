"""The order event export (after FINRA CAT): the period's timeline as CAT-style JSON Lines, with
a schema check of every line, the event mapping, terms in force at each event, and byte-identical
re-runs."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.chain import event_sequence_assign
from apps.orders.models import OrderEvent, OrderEventSequence
from apps.orders.placement import order_place
from apps.orders.routing import record_routed
from apps.orders.services import order_cancel, order_replace
from apps.reports.generators import cat_events
from apps.reports.kinds import KINDS, Scope
from apps.reports.periods import period_for
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

FRIDAY = date(2026, 12, 4)  # period: Thu 2026-12-03 21:00 -> Fri 2026-12-04 21:00 UTC
_ids = itertools.count(1)

# --- the schema: keys every record has, and those of each type --------------------------------
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
COMMON = {
    "type": str,
    "actionType": str,
    "eventTimestamp": str,
    "orderKeyDate": str,
    "orderID": str,
    "firmDesignatedID": str,
    "symbol": str,
    "side": str,
    "session": str,
    "firmROEID": str,
    "eventSequence": (int, type(None)),
    "firmEventKind": str,
}
TERMS = {"price", "stopPrice", "quantity", "orderType", "timeInForce"}
PER_TYPE = {
    "MENO": TERMS | {"deptType", "representativeInd"},
    "MEOR": TERMS | {"destination", "destinationType", "routedOrderID"},
    "MEOM": TERMS | {"leavesQty", "initiator"},
    "MEOC": {"cancelQty", "leavesQty", "initiator"},
    "MEOF": {"fulfillmentID", "quantity", "price", "leavesQty", "destination"},
}
DECIMAL_KEYS = {"price", "stopPrice", "quantity", "leavesQty", "cancelQty"}


def check_schema(data: bytes) -> list[dict]:
    """Every line parses as one JSON object with exactly the keys of its type, well-formed values."""
    assert data.endswith(b"\n") or data == b""
    records = []
    for line in data.decode("utf-8").splitlines():
        record = json.loads(line)
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":"))  # canonical form
        assert record["type"] in PER_TYPE, record
        assert set(record) == set(COMMON) | PER_TYPE[record["type"]], record
        for key, kind in COMMON.items():
            assert isinstance(record[key], kind), (key, record)
        assert TIMESTAMP.match(record["eventTimestamp"]) and TIMESTAMP.match(record["orderKeyDate"])
        assert record["side"] in ("B", "SL") and record["actionType"] == "NEW" and record["session"] == "REG"
        for key in DECIMAL_KEYS & set(record):
            assert record[key] is None or (isinstance(record[key], str) and DECIMAL.match(record[key])), (key, record)
        if "orderType" in record:
            assert record["orderType"] in ("MKT", "LMT", "STP", "STPL")
            assert (record["price"] is None) == (record["orderType"] in ("MKT", "STP"))
        if "initiator" in record:
            assert record["initiator"] in ("C", "F")
        records.append(record)
    return records


def at(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, micro, tzinfo=UTC)


def place(actor, account, when, qty="10", limit="100.00", tif="day", **kw):
    with time_machine.travel(when, tick=False):
        return order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side=kw.get("side", "buy"),
            type="limit" if limit else "market",
            quantity=qty,
            limit_price=limit,
            time_in_force=tif,
            client_order_id=f"c{next(_ids)}",
        )


def route(actor, order, when):
    submits = list(OrderInstruction.objects.filter(order=order, action="submit").select_related("order"))
    with time_machine.travel(when, tick=False):
        record_routed(submits, actor_id=actor.pk, now=when)


def receive(order, exec_type, when, qty="0", px=None, **kw):
    item = ExecutionReport(
        exec_id=f"CX{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(px) if px else None,
        fee=Decimal(0),
        broker_time=when,
        **kw,
    )
    with time_machine.travel(when, tick=False):
        assert intake.receive("paper", item) == "applied"
    return item


@pytest.fixture
def day(actor):
    """Thursday 20:00 a GTC buy of 10 @ 100 is received, routed and acknowledged. Friday: resized
    to 8 (10:00, confirmed 10:00:01), 3 filled (11:00), canceled by the client (12:00); a market buy
    of 5 received, routed, acknowledged and filled (13:00); an oversized order refused by risk
    (14:00). After the close: a new order (Monday's)."""
    with time_machine.travel(at(3, 10), tick=False):
        inst = instrument_create(
            actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
        )
        account = TradingAccountFactory()
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="c")
    with time_machine.travel(at(3, 19), tick=False):
        reference_price_set(actor=actor, instrument=inst, price="100.00")
    gtc = place(actor, account, at(3, 20), tif="gtc")
    route(actor, gtc, at(3, 20, 0, 1))
    receive(gtc, ExecType.NEW, at(3, 20, 0, 2))
    with time_machine.travel(at(4, 10), tick=False):
        order_replace(actor=actor, order_id=gtc.pk, quantity="8")
    receive(gtc, ExecType.REPLACED, at(4, 10, 0, 1), quantity=Decimal("8"), limit_price=Decimal("100.00"))
    fill = receive(gtc, ExecType.PARTIAL_FILL, at(4, 11), "3", "99.90")
    with time_machine.travel(at(4, 12), tick=False):
        order_cancel(actor=actor, order_id=gtc.pk)
    receive(gtc, ExecType.CANCELED, at(4, 12, 0, 1))
    with time_machine.travel(at(4, 12, 59), tick=False):
        reference_price_set(actor=actor, instrument=inst, price="100.00")
    market = place(actor, account, at(4, 13), qty="5", limit=None)
    route(actor, market, at(4, 13, 0, 0, 123_456))
    receive(market, ExecType.NEW, at(4, 13, 0, 1))
    receive(market, ExecType.FILL, at(4, 13, 0, 2), "5", "100.05")
    refused = place(actor, account, at(4, 14), qty="100000")
    assert refused.status == "rejected"
    evening = place(actor, account, at(4, 21, 30))
    return {"account": account, "gtc": gtc, "fill": fill, "market": market, "refused": refused, "evening": evening}


def test_registered_as_a_firm_report():
    kind = KINDS["cat_events"]
    assert (kind.scope, kind.generate) == (Scope.FIRM, cat_events.generate)


def test_every_line_is_well_formed_and_the_events_are_mapped(day):
    period = period_for(FRIDAY)
    (export,) = cat_events.generate(period, None)
    assert (export.name, export.content_type) == ("cat_events-2026-12-04.jsonl", "application/x-ndjson")
    records = check_schema(export.data)
    in_period = list(OrderEvent.objects.filter(at__gte=period.start, at__lt=period.end).order_by("at", "id"))
    reported = [e for e in in_period if e.kind in cat_events.CAT_TYPES]
    assert [r["firmROEID"] for r in records] == [str(e.pk) for e in reported]
    left_out = {e.kind for e in in_period} - set(cat_events.CAT_TYPES)
    assert left_out == {"replace_requested", "cancel_requested", "acknowledged", "risk_accepted"}
    assert day["evening"].pk not in {int(r["orderID"]) for r in records}
    by_order = {}
    for r in records:
        by_order.setdefault(int(r["orderID"]), []).append(r)
    # the GTC order: received on Thursday (not here), modified, filled, canceled by the client
    gtc = by_order[day["gtc"].pk]
    assert [r["type"] for r in gtc] == ["MEOM", "MEOF", "MEOC"]
    modified, filled, canceled = gtc
    assert (modified["quantity"], modified["price"], modified["leavesQty"], modified["initiator"]) == (
        "8",
        "100",
        "8",
        "C",
    )
    assert modified["orderKeyDate"] == "2026-12-03T20:00:00.000000Z"
    assert (filled["fulfillmentID"], filled["quantity"], filled["price"], filled["leavesQty"]) == (
        day["fill"].exec_id,
        "3",
        "99.9",
        "5",
    )
    assert (canceled["cancelQty"], canceled["leavesQty"], canceled["initiator"]) == ("5", "0", "C")
    market = by_order[day["market"].pk]
    assert [r["type"] for r in market] == ["MENO", "MEOR", "MEOF"]
    new, routed, _ = market
    assert (new["orderType"], new["price"], new["quantity"], new["timeInForce"], new["side"]) == (
        "MKT",
        None,
        "5",
        "DAY",
        "B",
    )
    assert (routed["destination"], routed["eventTimestamp"]) == ("paper", "2026-12-04T13:00:00.123456Z")
    assert new["firmDesignatedID"] == day["account"].number
    refused = by_order[day["refused"].pk]
    assert [(r["type"], r.get("cancelQty"), r.get("initiator")) for r in refused] == [
        ("MENO", None, None),
        ("MEOC", "100000", "F"),
    ]


def test_sequence_numbers_count_only_if_assigned_before_the_end(day):
    period = period_for(FRIDAY)
    before = cat_events.generate(period, None)[0].data
    event_sequence_assign()  # the sequencer runs now (the database's clock), after Friday's close
    assert OrderEventSequence.objects.exists()
    after = cat_events.generate(period, None)[0].data
    assert before == after  # byte-identical: numbers assigned after the end are not read
    assert {r["eventSequence"] for r in check_schema(after)} == {None}
    # a period whose end is after the sequencer ran sees each event's number
    wide = replace(period, end=datetime(2100, 1, 1, tzinfo=UTC))
    records = check_schema(cat_events.generate(wide, None)[0].data)
    links = dict(OrderEventSequence.objects.values_list("event_id", "sequence"))
    assert records and all(r["eventSequence"] == links[int(r["firmROEID"])] for r in records)


def test_a_rerun_gives_the_same_bytes(day, actor, django_assert_num_queries):
    period = period_for(FRIDAY)
    with django_assert_num_queries(1):
        first = cat_events.generate(period, None)[0].data
    route(actor, day["evening"], at(4, 21, 31))  # after the close
    assert cat_events.generate(period, None)[0].data == first
