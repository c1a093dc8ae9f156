"""The order routing report (after Rule 606): orders routed per broker and type, fill rates,
time to first fill, and price improvement against the reference price recorded at receipt."""

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
from apps.brokers.models import AccountRoute, OrderInstruction
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.orders.routing import record_routed
from apps.reports.generators import routing
from apps.reports.kinds import KINDS, Scope
from apps.reports.periods import period_for
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

FRIDAY = date(2026, 12, 4)  # period: Thu 2026-12-03 21:00 -> Fri 2026-12-04 21:00 UTC
_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, micro, tzinfo=UTC)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def price(actor, instrument, value, when):
    with time_machine.travel(when, tick=False):
        reference_price_set(actor=actor, instrument=instrument, price=value, as_of=when)


def place(actor, account, when, side="buy", qty="10", limit=None) -> Order:
    with time_machine.travel(when, tick=False):
        order = order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side=side,
            type="limit" if limit else "market",
            quantity=qty,
            limit_price=limit,
            time_in_force="day",
            client_order_id=f"r{next(_ids)}",
        )
    assert order.status == "pending_new", order.reject_detail
    return order


def route(actor, order, when) -> None:
    """The relay's claim step for this order's submit (``relay._claim`` calls the same hook)."""
    submits = list(OrderInstruction.objects.filter(order=order, action="submit").select_related("order"))
    with time_machine.travel(when, tick=False):
        record_routed(submits, actor_id=actor.pk, now=when)


def fill(order, when, qty, px, broker="paper") -> None:
    item = ExecutionReport(
        exec_id=f"RX{next(_ids)}",
        order_id=order.pk,
        exec_type=ExecType.PARTIAL_FILL,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(px),
        fee=Decimal(0),
        broker_time=when,
    )
    with time_machine.travel(when, tick=False):
        assert intake.receive(broker, item) == "applied"


@pytest.fixture
def day(actor):
    """Reference prices recorded Fri 13:00 101.00, 14:30 99.00, 15:59 99.50. Client A (paper):
    14:00 buys 10 limit 102, routed 14:00:01, filled 10 @ 100.50 250 ms later (+0.50 a share);
    15:00 sells 5 limit 98, routed 15:00:00.5, filled 2 @ 98.80 after 1 s then 3 @ 99.30 (average
    99.10: +0.10); 16:00 buys 10 at market, routed, unfilled by the close. Client B (routed to
    "alt"): 17:00 buys 4 limit 100, routed, 1 filled @ 100.00 after 3 s (-0.50). Excluded: an
    order routed on Thursday and one routed after Friday's close; a fill after the close."""
    with time_machine.travel(at(3, 10), tick=False):
        inst = instrument_create(
            actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
        )
        a, b = TradingAccountFactory(), TradingAccountFactory()
        ledger.cash_deposit(actor=actor, trading_account=a, currency="USD", amount="50000", idempotency_key="a")
        ledger.cash_deposit(actor=actor, trading_account=b, currency="USD", amount="50000", idempotency_key="b")
        AccountRoute.objects.create(account=b, broker="alt")
    price(actor, inst, "100.00", at(3, 10))
    thursday = place(actor, a, at(3, 19), limit="100.00")
    route(actor, thursday, at(3, 19, 0, 1))
    fill(thursday, at(4, 9), "10", "100.00")  # filled in the period, but routed before it
    price(actor, inst, "101.00", at(4, 13))
    buy = place(actor, a, at(4, 14), limit="102.00")
    price(actor, inst, "99.00", at(4, 14, 30))  # after the buy's receipt: not its reference
    route(actor, buy, at(4, 14, 0, 1))
    fill(buy, at(4, 14, 0, 1, 250_000), "10", "100.50")
    sell = place(actor, a, at(4, 15), side="sell", qty="5", limit="98.00")
    route(actor, sell, at(4, 15, 0, 0, 500_000))
    fill(sell, at(4, 15, 0, 1, 500_000), "2", "98.80")
    fill(sell, at(4, 15, 0, 2), "3", "99.30")
    price(actor, inst, "99.50", at(4, 15, 59))
    market = place(actor, a, at(4, 16))
    route(actor, market, at(4, 16, 0, 0, 100_000))
    other = place(actor, b, at(4, 17), qty="4", limit="100.00")
    route(actor, other, at(4, 17, 0, 0))
    fill(other, at(4, 17, 0, 3), "1", "100.00", broker="alt")
    fill(market, at(4, 21, 30), "10", "99.50")  # after the close
    evening = place(actor, a, at(4, 21, 40), limit="100.00")
    route(actor, evening, at(4, 21, 41))
    return {"buy": buy, "sell": sell, "market": market, "other": other, "thursday": thursday, "evening": evening}


def test_registered_as_a_firm_report():
    kind = KINDS["order_routing"]
    assert (kind.scope, kind.generate) == (Scope.FIRM, routing.generate)


def test_per_order_figures(day):
    pdf, groups, orders = routing.generate(period_for(FRIDAY), None)
    assert [f.name for f in (pdf, groups, orders)] == [
        "order_routing-2026-12-04.pdf",
        "order_routing-2026-12-04.csv",
        "order_routing-2026-12-04-orders.csv",
    ]
    assert pdf.data.startswith(b"%PDF")
    table = {int(r["order_id"]): r for r in rows(orders.data)}
    assert list(table) == [day[k].pk for k in ("buy", "sell", "market", "other")]  # by routing time
    buy = table[day["buy"].pk]
    assert (buy["broker"], buy["reference_price"], buy["average_fill_price"]) == ("paper", "101", "100.5")
    assert (buy["ms_to_first_fill"], buy["improvement_per_share"], buy["improvement_bps"]) == (
        "250.000",
        "0.5",
        "49.50",
    )
    sell = table[day["sell"].pk]
    assert (sell["reference_price"], sell["average_fill_price"], sell["filled_quantity"]) == ("99", "99.1", "5")
    assert (sell["ms_to_first_fill"], sell["improvement_per_share"], sell["improvement_bps"]) == (
        "1000.000",
        "0.1",
        "10.10",
    )
    market = table[day["market"].pk]
    assert (market["filled_quantity"], market["average_fill_price"], market["ms_to_first_fill"]) == ("0", "", "")
    assert market["reference_price"] == "99.5"  # the last recorded before 16:00 (15:59)
    other = table[day["other"].pk]
    assert (other["broker"], other["improvement_per_share"], other["improvement_bps"]) == ("alt", "-0.5", "-50.25")


def test_per_broker_and_type(day):
    table = {(r["broker"], r["order_type"]): r for r in rows(routing.generate(period_for(FRIDAY), None)[1].data)}
    assert list(table) == [(broker, kind) for broker in ("alt", "paper") for kind in routing.TYPES]
    limit = table[("paper", "limit")]
    assert (limit["routed_orders"], limit["routed_quantity"], limit["filled_orders"], limit["filled_quantity"]) == (
        "2",
        "15",
        "2",
        "15",
    )
    assert (limit["order_fill_rate"], limit["quantity_fill_rate"]) == ("1.0000", "1.0000")
    assert (limit["avg_ms_to_first_fill"], limit["median_ms_to_first_fill"]) == ("625.000", "625.000")
    # share-weighted: (0.50 x 10 + 0.10 x 5) / 15; in bps of the reference value 101 x 10 + 99 x 5
    assert Decimal(limit["improvement_per_share"]) == (Decimal("5.5") / 15).quantize(Decimal("0.00000001"))
    assert limit["improvement_bps"] == "36.54" and limit["improvement_total"] == "5.5"
    market = table[("paper", "market")]
    assert (market["routed_orders"], market["filled_orders"], market["order_fill_rate"]) == ("1", "0", "0.0000")
    assert market["improvement_per_share"] == "" and market["avg_ms_to_first_fill"] == ""
    alt = table[("alt", "limit")]
    assert (alt["routed_orders"], alt["order_fill_rate"], alt["quantity_fill_rate"]) == ("1", "1.0000", "0.2500")
    assert (alt["median_ms_to_first_fill"], alt["improvement_bps"]) == ("3000.000", "-50.25")
    assert table[("paper", "stop")]["routed_orders"] == "0"


def test_a_rerun_gives_the_same_bytes(day, actor, django_assert_num_queries):
    period = period_for(FRIDAY)
    with django_assert_num_queries(1):
        first = routing.generate(period, None)
    fill(day["other"], at(5, 10), "3", "99.00", broker="alt")  # Saturday: after the close
    second = routing.generate(period, None)
    assert [f.data for f in first] == [f.data for f in second]
