"""A small, dated history for the report tests: one client trading ACME across two business
dates, with activity after a close. Every step runs at a fixed instant (time_machine) through
the real services, so the figures below follow from the rules, not from the generators."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import time_machine

from apps.accounts.models import TradingAccount
from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.instruments.models import Instrument
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Order
from apps.orders.placement import order_place
from tests.factories import TradingAccountFactory

MONDAY = date(2026, 11, 30)  # period: Fri 2026-11-27 21:00 -> Mon 2026-11-30 21:00 UTC
TUESDAY = date(2026, 12, 1)
_ids = itertools.count(1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _report(order: Order, exec_type: str, qty: str, price: str, fee: str, when: datetime) -> ExecutionReport:
    return ExecutionReport(
        exec_id=f"R{next(_ids)}-{order.pk}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price),
        fee=Decimal(fee),
        broker_time=when,
    )


def trade(actor, account: TradingAccount, side: str, qty: str, price: str, fee: str, when: datetime) -> Order:
    with time_machine.travel(when, tick=False):
        order = order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side=side,
            type="limit",
            quantity=qty,
            limit_price=price,
            time_in_force="day",
        )
        assert order.status != "rejected", order.reject_detail
        assert intake.receive("paper", _report(order, ExecType.FILL, qty, price, fee, when)) == "applied"
    return order


@dataclass
class Scenario:
    account: TradingAccount
    other: TradingAccount
    instrument: Instrument


def build(actor) -> Scenario:
    """Thu 11-26: ACME listed at 100.00, the client deposits 50,000.00 (another client 5,000.00).
    Mon 11-30 14:00: buys 10 @ 100.00 (fee 1.00); 15:00 ACME at 110.00.
    Mon 11-30 22:00 (after the close, so Tuesday's): deposits 1,000.00.
    Tue 12-01 14:00: ACME at 112.00 and sells 4 @ 112.00 (fee 1.00); 23:00 (Wednesday's): ACME at 120.00."""
    with time_machine.travel(at(date(2026, 11, 26), 10), tick=False):
        instrument = instrument_create(
            actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
        )
        reference_price_set(actor=actor, instrument=instrument, price="100.00")
        account = TradingAccountFactory()
        other = TradingAccountFactory()
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="s1")
        ledger.cash_deposit(actor=actor, trading_account=other, currency="USD", amount="5000", idempotency_key="s2")
    with time_machine.travel(at(MONDAY, 13, 59), tick=False):
        reference_price_set(actor=actor, instrument=instrument, price="100.00")
    trade(actor, account, "buy", "10", "100.00", "1.00", at(MONDAY, 14))
    with time_machine.travel(at(MONDAY, 15), tick=False):
        reference_price_set(actor=actor, instrument=instrument, price="110.00")
    with time_machine.travel(at(MONDAY, 22), tick=False):
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="1000", idempotency_key="s3")
    with time_machine.travel(at(TUESDAY, 13, 59), tick=False):
        reference_price_set(actor=actor, instrument=instrument, price="112.00")
    trade(actor, account, "sell", "4", "112.00", "1.00", at(TUESDAY, 14))
    with time_machine.travel(at(TUESDAY, 23), tick=False):
        reference_price_set(actor=actor, instrument=instrument, price="120.00")
    return Scenario(account=account, other=other, instrument=instrument)
