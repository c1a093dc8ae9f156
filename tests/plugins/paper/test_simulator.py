"""The paper venue, with exact numbers: every order type and time in force, slippage,
commission, partial fills, stops, resting orders filled by a later price plus a poll, replace,
cancel, idempotency, positions and expiry. The clock is fixed (``T0``) unless a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from apps.brokers.interface import ExecType
from apps.instruments.services import instrument_create
from plugins.paper.models import PaperOrder
from tests.plugins.paper.conftest import T0

pytestmark = pytest.mark.django_db

NEW, PARTIAL, FILL = ExecType.NEW, ExecType.PARTIAL_FILL, ExecType.FILL
CANCELED, REJECTED, REPLACED, EXPIRED = ExecType.CANCELED, ExecType.REJECTED, ExecType.REPLACED, ExecType.EXPIRED


def rows(reports):
    """(exec type, last qty, last price, fee, cumulative, leaves) per report."""
    return [
        (r.exec_type, r.last_quantity, r.last_price, r.fee, r.cumulative_quantity, r.leaves_quantity) for r in reports
    ]


def limit(price: str, **kw):
    return {"order_type": "limit", "limit_price": D(price), "time_in_force": "gtc", **kw}


# --- market orders, slippage, commission --------------------------------------------------


def test_a_market_buy_fills_at_the_reference_price(broker, acme, ticket):
    reports = broker.submit(ticket())
    assert rows(reports) == [(NEW, 0, None, 0, 0, 100), (FILL, 100, D("100.00"), D("1.00"), 100, 0)]
    assert [r.exec_id for r in reports] == ["PAPER-1-1", "PAPER-1-2"]
    assert {(r.broker_order_id, r.broker_time, r.order_id) for r in reports} == {("PAPER-1", T0, 1)}
    assert T0.microsecond == 123456


@pytest.mark.parametrize(
    ("side", "bps", "reference", "price"),
    [
        ("buy", "0", "100.00", "100.00"),
        ("buy", "10", "100.00", "100.10"),
        ("sell", "10", "100.00", "99.90"),
        ("buy", "5", "123.45", "123.52"),  # 123.511725 rounded up: the buyer pays
        ("sell", "5", "123.45", "123.38"),  # 123.388275 rounded down: the seller receives less
        ("sell", "9999", "0.05", "0.01"),  # never below one tick
    ],
)
def test_market_slippage_is_rounded_to_the_tick_against_the_client(
    make_broker, acme, ticket, set_price, side, bps, reference, price
):
    set_price(acme, reference)
    reports = make_broker(slippage_bps=bps).submit(ticket(side=side))
    assert reports[-1].exec_type == FILL and reports[-1].last_price == D(price)


@pytest.mark.parametrize(
    ("quantity", "settings", "fee"),
    [
        ("100", {}, "1.00"),  # 0.50 is below the minimum
        ("1000", {}, "5.00"),
        ("333", {}, "1.67"),  # 1.665, half up
        ("201", {"commission_per_share": "0.0035", "commission_minimum": "0.35"}, "0.70"),
        ("50", {"commission_minimum": "0"}, "0.25"),
        ("10", {"commission_per_share": "0", "commission_minimum": "0"}, "0.00"),
    ],
)
def test_commission_is_per_share_with_a_minimum(make_broker, acme, ticket, quantity, settings, fee):
    reports = make_broker(**settings).submit(ticket(quantity=D(quantity)))
    assert reports[-1].fee == D(fee)


def test_the_minimum_is_per_order_and_fees_sum_to_the_order_commission(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="100")
    reports = list(broker.submit(ticket(quantity=D(1000), time_in_force="gtc")))
    while reports[-1].leaves_quantity:
        reports += broker.poll()
    fills = [r for r in reports if r.exec_type in (PARTIAL, FILL)]
    assert [r.fee for r in fills] == [D("1.00"), D("0.00")] + [D("0.50")] * 8
    assert sum(r.fee for r in fills) == D("5.00")  # what one fill of 1000 would have cost


def test_a_market_order_without_a_reference_price_is_rejected_by_the_venue(broker, actor, ticket):
    instrument_create(actor=actor, symbol="NOPX", name="No price", currency="USD", tick_size="0.01", lot_size="1")
    for tif in ("day", "ioc", "fok"):
        order = ticket(symbol="NOPX", time_in_force=tif)
        reports = broker.submit(order)
        assert rows(reports) == [(REJECTED, 0, None, 0, 0, 0)]
        assert reports[0].text == "no reference price for NOPX"
    assert rows(broker.submit(ticket(symbol="NOPX", **limit("10.00")))) == [(NEW, 0, None, 0, 0, 100)]


def test_a_stale_reference_price_counts_as_none(make_broker, acme, ticket, set_price, clock):
    broker = make_broker(max_price_age_seconds="60")
    clock.tick(61)
    rejected = broker.submit(ticket())
    assert rejected[0].exec_type == REJECTED and rejected[0].text == "no recent reference price for ACME"
    resting = ticket(**limit("100.00"))
    assert [r.exec_type for r in broker.submit(resting)] == [NEW]  # would cross, but the price is stale
    assert broker.poll() == []
    set_price(acme, "100.00")
    assert rows(broker.poll()) == [(FILL, 100, D("100.00"), D("1.00"), 100, 0)]


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"symbol": "NOPE"}, "unknown symbol 'NOPE'"),
        ({"quantity": D("10.5")}, "the quantity 10.5 is not a multiple of the lot size 1"),
        ({"quantity": D("0")}, "the quantity must be a positive Decimal"),
        ({"quantity": D("-5")}, "the quantity must be a positive Decimal"),
        ({"quantity": D("NaN")}, "the quantity must be a positive Decimal"),
        ({"quantity": 1.5}, "the quantity must be a positive Decimal"),  # a float never crashes the venue
        ({"quantity": D("1e30")}, "the quantity must be a positive Decimal"),
        ({"order_type": "limit"}, "a limit price is required for this order type"),
        ({"order_type": "limit", "limit_price": D("99.995")}, "the limit price 99.995 is not a multiple of the tick"),
        ({"limit_price": D("99")}, "a limit price is not allowed for this order type"),
        ({"order_type": "stop"}, "a stop price is required for this order type"),
        ({"order_type": "stop_limit", "stop_price": D("1")}, "a limit price is required for this order type"),
        ({"side": "short"}, "side 'short' is not buy or sell"),
        ({"order_type": "pegged"}, "order type 'pegged' is not supported"),
        ({"time_in_force": "gtd"}, "time in force 'gtd' is not supported"),
    ],
)
def test_invalid_tickets_are_rejected_with_a_reason(broker, acme, ticket, overrides, text):
    order = ticket(**overrides)
    reports = broker.submit(order)
    assert rows(reports) == [(REJECTED, 0, None, 0, 0, 0)]
    assert reports[0].text.startswith(text)
    assert broker.submit(order) == reports == broker.order_status(order)


def test_an_inactive_instrument_is_not_traded(broker, actor, ticket):
    instrument_create(
        actor=actor, symbol="HALT", name="Halted", currency="USD", tick_size="0.01", lot_size="1", active=False
    )
    assert broker.submit(ticket(symbol="HALT"))[0].text == "HALT is not trading"


# --- limit and stop orders ----------------------------------------------------------------


def test_a_resting_limit_is_filled_by_a_later_price_and_a_poll(broker, acme, ticket, set_price, clock):
    buy, sell = ticket(**limit("99.00")), ticket(side="sell", **limit("101.00"))
    assert [r.exec_type for r in broker.submit(buy) + broker.submit(sell)] == [NEW, NEW]
    assert broker.poll() == []
    set_price(acme, "99.50")
    assert broker.poll() == []
    clock.tick()
    set_price(acme, "98.75")
    filled = broker.poll()
    assert rows(filled) == [(FILL, 100, D("98.75"), D("1.00"), 100, 0)]  # the better of limit and reference
    assert (filled[0].exec_id, filled[0].broker_time) == ("PAPER-1-2", clock.now)
    assert broker.poll() == []
    set_price(acme, "101.20")
    assert rows(broker.poll()) == [(FILL, 100, D("101.20"), D("1.00"), 100, 0)]
    assert broker.poll() == []


@pytest.mark.parametrize(
    ("side", "limit_price", "bps", "price"),
    [
        ("buy", "101.00", "0", "100.00"),
        ("sell", "99.00", "0", "100.00"),
        ("buy", "100.00", "0", "100.00"),  # at the limit crosses
        ("buy", "101.00", "20", "100.20"),  # slipped reference, still better than the limit
        ("buy", "100.10", "20", "100.10"),  # never worse than the limit
        ("sell", "99.95", "20", "99.95"),
    ],
)
def test_a_marketable_limit_fills_at_once_never_worse_than_its_limit(
    make_broker, acme, ticket, side, limit_price, bps, price
):
    reports = make_broker(slippage_bps=bps).submit(ticket(side=side, **limit(limit_price)))
    assert [r.exec_type for r in reports] == [NEW, FILL] and reports[-1].last_price == D(price)


@pytest.mark.parametrize(
    ("side", "stop", "miss", "hit", "price"),
    [("buy", "105.00", "104.99", "105.00", "105.00"), ("sell", "95.00", "95.01", "94.00", "94.00")],
)
def test_a_stop_triggers_at_its_price_then_executes_as_market(
    broker, acme, ticket, set_price, side, stop, miss, hit, price
):
    order = ticket(side=side, order_type="stop", stop_price=D(stop), time_in_force="gtc")
    assert [r.exec_type for r in broker.submit(order)] == [NEW]
    set_price(acme, miss)
    assert broker.poll() == []
    set_price(acme, hit)
    assert rows(broker.poll()) == [(FILL, 100, D(price), D("1.00"), 100, 0)]


def test_a_triggered_stop_pays_the_slippage(make_broker, acme, ticket, set_price):
    broker = make_broker(slippage_bps="10")
    broker.submit(ticket(order_type="stop", stop_price=D("105.00")))
    set_price(acme, "105.00")
    assert broker.poll()[0].last_price == D("105.11")  # 105.105 rounded up


def test_a_stop_already_reached_on_arrival_executes_at_once(broker, acme, ticket):
    assert rows(broker.submit(ticket(order_type="stop", stop_price=D("99.00"))))[-1] == (
        FILL,
        100,
        D("100.00"),
        D("1.00"),
        100,
        0,
    )


def test_a_stop_limit_keeps_its_trigger_and_waits_for_its_limit(broker, acme, ticket, set_price):
    order = ticket(order_type="stop_limit", stop_price=D("105.00"), limit_price=D("105.50"), time_in_force="gtc")
    broker.submit(order)
    set_price(acme, "106.00")  # triggers; the limit does not cross
    assert broker.poll() == []
    assert PaperOrder.objects.get(order_id=order.order_id).triggered is True
    set_price(acme, "104.00")  # below the stop again, but the order is a working limit now
    assert rows(broker.poll()) == [(FILL, 100, D("104.00"), D("1.00"), 100, 0)]


# --- time in force ------------------------------------------------------------------------


def test_ioc_fills_what_it_can_and_cancels_the_rest(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="40")
    missed = broker.submit(ticket(**limit("99.00", time_in_force="ioc")))
    assert rows(missed) == [(NEW, 0, None, 0, 0, 100), (CANCELED, 0, None, 0, 0, 0)]
    assert missed[-1].text == "IOC: remainder canceled"
    partial = broker.submit(ticket(time_in_force="ioc"))
    assert rows(partial) == [
        (NEW, 0, None, 0, 0, 100),
        (PARTIAL, 40, D("100.00"), D("1.00"), 40, 60),
        (CANCELED, 0, None, 0, 40, 0),
    ]
    full = broker.submit(ticket(quantity=D(40), time_in_force="ioc"))
    assert [r.exec_type for r in full] == [NEW, FILL]
    assert broker.poll() == []  # nothing rests


def test_fok_fills_entirely_or_is_canceled_entirely_never_rejected(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="40")
    too_big = broker.submit(ticket(time_in_force="fok"))
    assert rows(too_big) == [(NEW, 0, None, 0, 0, 100), (CANCELED, 0, None, 0, 0, 0)]
    assert too_big[-1].text == "FOK: could not fill entirely"
    assert rows(broker.submit(ticket(quantity=D(40), time_in_force="fok")))[-1] == (
        FILL,
        40,
        D("100.00"),
        D("1.00"),
        40,
        0,
    )
    not_crossing = broker.submit(ticket(quantity=D(40), **limit("99.00", time_in_force="fok")))
    assert [r.exec_type for r in not_crossing] == [NEW, CANCELED]
    assert broker.poll() == []


def test_partial_fills_come_in_slices_one_per_evaluation(make_broker, acme, ticket, set_price):
    broker = make_broker(partial_fill_quantity="30")
    order = ticket()
    reports = broker.submit(order)
    assert rows(reports) == [(NEW, 0, None, 0, 0, 100), (PARTIAL, 30, D("100.00"), D("1.00"), 30, 70)]
    assert rows(broker.poll()) == [(PARTIAL, 30, D("100.00"), D("0.00"), 60, 40)]
    set_price(acme, "101.00")
    assert rows(broker.poll()) == [(PARTIAL, 30, D("101.00"), D("0.00"), 90, 10)]
    assert rows(broker.poll()) == [(FILL, 10, D("101.00"), D("0.00"), 100, 0)]
    assert broker.poll() == []
    assert [r.exec_id for r in broker.order_status(order)] == [f"PAPER-1-{n}" for n in range(1, 6)]


@pytest.mark.parametrize(("quantity", "slices"), [("10", [2, 2, 2, 2, 2]), ("3", [1, 1, 1]), ("4", [1, 1, 1, 1])])
def test_max_fill_ratio_slices_in_whole_lots(make_broker, acme, ticket, quantity, slices):
    broker = make_broker(max_fill_ratio="0.25")
    reports = list(broker.submit(ticket(quantity=D(quantity))))
    while reports[-1].leaves_quantity:
        reports += broker.poll()
    assert [r.last_quantity for r in reports if r.exec_type in (PARTIAL, FILL)] == [D(n) for n in slices]


def test_day_orders_expire_at_the_configured_close(make_broker, acme, ticket, clock):
    broker = make_broker(day_close_utc="21:00")
    day, gtc = ticket(**limit("90.00", time_in_force="day")), ticket(**limit("90.00"))
    broker.submit(day)
    broker.submit(gtc)
    clock.now = datetime(2026, 3, 2, 20, 59, 59, tzinfo=UTC)
    assert broker.poll() == []
    clock.now = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    expired = broker.poll()
    assert rows(expired) == [(EXPIRED, 0, None, 0, 0, 0)] and expired[0].order_id == day.order_id
    late = ticket(**limit("90.00", time_in_force="day"))  # after the close: lives until tomorrow's
    broker.submit(late)
    assert PaperOrder.objects.get(order_id=late.order_id).expires_at == datetime(2026, 3, 3, 21, 0, tzinfo=UTC)
    assert broker.poll() == []
