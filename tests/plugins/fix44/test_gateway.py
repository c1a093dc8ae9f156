"""End to end over a real FIX session: order -> outbox -> gateway -> local venue (QuickFIX on
both ends, over TCP) -> ExecutionReport -> journal -> intake -> ledger.

The gateway and the venue run in this process, in the engine's threads; the database is real
(transactional tests, so that their threads see what the test committed)."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from apps.brokers.interface import BrokerError, BrokerPosition
from apps.brokers.models import AccountRoute, ExecutionReportRecord, OrderInstruction
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Fill, Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from plugins.fix44.adapter import FixBroker
from plugins.fix44.gateway import Gateway
from plugins.fix44.models import InboundReport, VenueSnapshot
from plugins.fix44.venue import Venue
from plugins.paper.config import PaperSettings
from plugins.paper.market import market_get
from tests.conftest import balance

pytestmark = pytest.mark.django_db(transaction=True)
_coids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def session_settings(port: int, data_dir: Path, **overrides: str) -> dict[str, str]:
    """``BROKERS["fix44"]`` for a test session: quick heartbeats and reconnects."""
    values = {"port": str(port), "data_dir": str(data_dir), "heartbeat_seconds": "1", "reconnect_seconds": "1"}
    return {**values, "answer_timeout_seconds": "10", **overrides}


def prices(symbol: str):  # type: ignore[no-untyped-def]
    """The venue's prices, read in its own threads: their connections are closed after each
    read, so that none outlives the test database."""
    try:
        return market_get(symbol, now=timezone.now(), settings=PaperSettings())
    finally:
        connection.close()


@pytest.fixture
def venue_settings() -> PaperSettings:
    return PaperSettings()


@pytest.fixture
def line(settings, tmp_path, account, actor, instrument, venue_settings):  # type: ignore[no-untyped-def]
    port = free_port()
    settings.BROKERS = {**settings.BROKERS, "fix44": session_settings(port, tmp_path / "gateway")}
    AccountRoute.objects.create(account=account, broker="fix44")
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="100000", idempotency_key="fx")
    venue = Venue(port=port, data_dir=tmp_path / "venue", markets=prices, settings=venue_settings, sweep_seconds=0.1)
    venue.start()
    fatal: list[BaseException] = []
    gateway = Gateway("fix44", on_fatal=fatal.append)
    gateway.start()
    try:
        eventually(gateway.link.logged_on.is_set)
        yield SimpleNamespace(venue=venue, gateway=gateway, fatal=fatal)
    finally:
        gateway.stop()
        venue.stop()
    assert fatal == []


def place(actor, account, **terms):  # type: ignore[no-untyped-def]
    values = {"symbol": "ACME", "side": "buy", "type": "market", "quantity": "10", "time_in_force": "day"}
    values.update(terms)
    return order_place(actor=actor, account=account, client_order_id=f"fx-{next(_coids)}", **values)


def status_of(order: Order) -> str:
    order.refresh_from_db()
    return order.status


def test_a_market_order_goes_out_over_fix_and_its_fill_is_booked_once(line, actor, account):
    cash_before = balance(account)
    order = place(actor, account)
    assert order.broker == "fix44"
    eventually(lambda: status_of(order) == "filled")
    fill = Fill.objects.get(order=order)
    assert (fill.quantity, fill.price, fill.broker) == (Decimal(10), Decimal("100.00"), "fix44")
    assert balance(account) == cash_before - Decimal("1000.00") - fill.fee
    assert OrderInstruction.objects.get(order=order).status == "done"
    journaled = InboundReport.objects.filter(order_id=order.pk)
    assert {r.msg_type for r in journaled} == {"8"} and journaled.count() == 2  # NEW, then the fill
    eventually(lambda: not InboundReport.objects.filter(acknowledged_at__isnull=True).exists())
    assert ExecutionReportRecord.objects.filter(broker="fix44", order_id=order.pk).count() == 2


def test_a_resting_limit_order_fills_when_the_price_comes_to_it(line, actor, account, instrument):
    order = place(actor, account, type="limit", limit_price="95.00")
    eventually(lambda: status_of(order) == "new")
    reference_price_set(actor=actor, instrument=instrument, price="94.50")
    eventually(lambda: status_of(order) == "filled")
    assert Fill.objects.get(order=order).price == Decimal("94.50")


def test_a_cancel_and_a_replace_travel_as_f_and_g(line, actor, account):
    order = place(actor, account, type="limit", limit_price="90.00", quantity="5")
    eventually(lambda: status_of(order) == "new")
    order_replace(actor=actor, order_id=order.pk, quantity="7", limit_price="91.00")
    eventually(lambda: status_of(order) == "new" and order.quantity == Decimal(7))
    assert order.limit_price == Decimal("91.00")
    order_cancel(actor=actor, order_id=order.pk)
    eventually(lambda: status_of(order) == "canceled")
    assert {r.msg_type for r in InboundReport.objects.filter(order_id=order.pk)} == {"8"}


def test_a_cancel_the_venue_refuses_comes_back_as_a_cancel_reject(line, actor, account):
    order = place(actor, account, type="limit", limit_price="90.00", quantity="5")
    eventually(lambda: status_of(order) == "new")
    line.venue.reject_next("cancel", "too late to cancel")
    order_cancel(actor=actor, order_id=order.pk)
    eventually(lambda: InboundReport.objects.filter(order_id=order.pk, msg_type="9").exists())
    eventually(lambda: status_of(order) == "new")
    record = ExecutionReportRecord.objects.get(broker="fix44", order_id=order.pk, exec_type="cancel_rejected")
    assert "too late to cancel" in str(record.payload["text"])


def test_ioc_remainder_is_canceled_and_a_fillable_fok_fills(line, actor, account):
    ioc = place(actor, account, type="limit", limit_price="99.00", time_in_force="ioc")
    eventually(lambda: status_of(ioc) == "canceled")
    assert ioc.filled_quantity == 0
    fok = place(actor, account, time_in_force="fok")
    eventually(lambda: status_of(fok) == "filled")


def test_a_stop_order_triggers_at_the_venue_and_fills_at_the_market(line, actor, account, instrument):
    order = place(actor, account, type="stop", stop_price="102.00")
    eventually(lambda: status_of(order) == "new")
    reference_price_set(actor=actor, instrument=instrument, price="101.50")
    assert line.venue.sweep() == 0  # below the stop: the venue's sweep does nothing
    assert status_of(order) == "new"
    reference_price_set(actor=actor, instrument=instrument, price="102.50")
    eventually(lambda: status_of(order) == "filled")
    assert Fill.objects.get(order=order).price == Decimal("102.50")


def test_a_stop_limit_order_triggers_then_fills_within_its_limit(line, actor, account, instrument):
    order = place(actor, account, type="stop_limit", stop_price="101.00", limit_price="101.20")
    eventually(lambda: status_of(order) == "new")
    reference_price_set(actor=actor, instrument=instrument, price="101.10")
    eventually(lambda: status_of(order) == "filled")
    assert Fill.objects.get(order=order).price == Decimal("101.10")


@pytest.mark.parametrize("venue_settings", [PaperSettings(partial_fill_quantity=Decimal(4))])
def test_partial_fills_each_booked_as_the_venue_sends_them(line, actor, account):
    order = place(actor, account, quantity="10")
    eventually(lambda: status_of(order) == "filled")
    fills = list(Fill.objects.filter(order=order).order_by("id"))
    assert [f.quantity for f in fills] == [Decimal(4), Decimal(4), Decimal(2)]
    assert order.filled_quantity == Decimal(10)
    events = InboundReport.objects.filter(order_id=order.pk).count()
    assert events == 4  # NEW and three trades, each journaled once


def test_processes_without_the_session_read_the_gateways_recent_snapshot(line, actor, account):
    order = place(actor, account, quantity="3")
    eventually(lambda: status_of(order) == "filled")
    resting = place(actor, account, type="limit", limit_price="90.00", quantity="2")
    eventually(lambda: status_of(resting) == "new")
    line.gateway.adapter.snapshot_take()
    elsewhere = FixBroker(line.gateway.adapter.settings)  # a worker's adapter: no session
    orders, positions = elsewhere.open_orders(), elsewhere.positions()
    assert [(o.order_id, o.leaves_quantity) for o in orders] == [(resting.pk, Decimal(2))]
    assert positions == [BrokerPosition(account_number=account.number, symbol="ACME", quantity=Decimal(3))]
    VenueSnapshot.objects.update(taken_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(BrokerError, match="no recent view of fix44"):
        elsewhere.positions()
