"""Support for the permission matrix: a richer world (orders, a fill, a restriction) and a
fingerprint of the domain tables, to prove that a refused request wrote nothing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from apps.accounts.models import TradingAccount, TradingAccountGroupObjectPermission, TradingAccountUserObjectPermission
from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.core.actors import system_actor
from apps.instruments.models import Instrument, ReferencePrice
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger_services
from apps.ledger.currencies import currencies_ensure
from apps.ledger.models import Hold, JournalEntry, JournalTransaction, LedgerAccount
from apps.orders.models import Fill, Order, OrderEvent, Position
from apps.orders.placement import order_place
from apps.reports.models import ReportRun
from apps.reports.services import report_run_execute
from apps.risk.defaults import firm_limits_ensure
from apps.risk.models import RestrictedInstrument, RiskLimits, TradingState
from apps.risk.services import restricted_instrument_add
from apps.users.roles import roles_ensure
from tests.api.conftest import World, populate_world
from tests.factories import InstrumentFactory

UNKNOWN_ID = 999_999_999
REPORT_DATE = date(2026, 11, 30)  # a closed business date
_exec_ids = itertools.count(1)


@dataclass
class MatrixWorld:
    """``world`` (trader holds view + trade on ``account``, viewer holds view; ``unrelated`` owns
    ``other_account``) plus what the endpoints need to exist:

    - ``open_order``: a limit buy on ``account``, acknowledged by the venue (``new``): replaceable
      and cancelable;
    - ``filled_order``: a partially filled limit buy on ``account``, with ``fill``;
    - ``other_order``: an order on ``other_account`` (the unrelated user's), for leak checks the
      other way round;
    - ``restriction``: a firm-wide restriction on another instrument (so ACME stays tradable);
    - ``report_run`` / ``other_report_run``: a statement of ``account`` / ``other_account``.
    """

    world: Any
    open_order: Order
    filled_order: Order
    fill: Fill
    other_order: Order
    restriction: RestrictedInstrument
    report_run: ReportRun
    other_report_run: ReportRun

    @property
    def users(self) -> dict[str, Any]:
        return self.world.users

    @property
    def account(self) -> TradingAccount:
        return self.world.account

    @property
    def other_account(self) -> TradingAccount:
        return self.world.other_account

    def client(self, role: str) -> Any:
        return self.world.client(role)


def _report(order: Order, exec_type: ExecType, qty: str = "0", price: str | None = None) -> ExecutionReport:
    return ExecutionReport(
        exec_id=f"MX{next(_exec_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        broker_time=datetime(2026, 11, 25, 15, 30, 0, 123456, tzinfo=UTC),
    )


def _limit_buy(account: TradingAccount, quantity: str, limit: str) -> Order:
    return order_place(
        actor=system_actor(),
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force="day",
    )


def build_matrix_world(world: Any) -> MatrixWorld:
    actor = system_actor()
    open_order = _limit_buy(world.account, "10", "99.00")
    assert intake.receive("paper", _report(open_order, ExecType.NEW)) == "applied"
    filled_order = _limit_buy(world.account, "10", "100.00")
    assert intake.receive("paper", _report(filled_order, ExecType.NEW)) == "applied"
    assert intake.receive("paper", _report(filled_order, ExecType.PARTIAL_FILL, "4", "99.50")) == "applied"
    ledger_services.cash_deposit(
        actor=actor,
        trading_account=world.other_account,
        currency="USD",
        amount="5000.00",
        idempotency_key=f"matrix-other-{world.other_account.pk}",
    )
    other_order = _limit_buy(world.other_account, "1", "98.00")
    restricted = InstrumentFactory(symbol="RSTR")
    restriction = restricted_instrument_add(actor=actor, instrument=restricted, reason="matrix fixture")
    for order in (open_order, filled_order, other_order):
        order.refresh_from_db()
    assert (open_order.status, filled_order.status) == ("new", "partially_filled")
    assert other_order.status == "pending_new", other_order.reject_reason
    statements = [
        report_run_execute(actor=actor, kind="statement", business_date=REPORT_DATE, account_id=account.pk)
        for account in (world.account, world.other_account)
    ]
    return MatrixWorld(
        world=world,
        report_run=statements[0],
        other_report_run=statements[1],
        open_order=open_order,
        filled_order=filled_order,
        fill=Fill.objects.get(order=filled_order),
        other_order=other_order,
        restriction=restriction,
    )


# Every table a request on the API could write (users' last_login aside: a log-in writes it).
FINGERPRINTED = (
    TradingAccount,
    TradingAccountUserObjectPermission,
    TradingAccountGroupObjectPermission,
    Instrument,
    ReferencePrice,
    LedgerAccount,
    JournalTransaction,
    JournalEntry,
    Hold,
    Order,
    OrderEvent,
    Fill,
    Position,
    OrderInstruction,
    TradingState,
    RestrictedInstrument,
    RiskLimits,
    ReportRun,
)


def fingerprint() -> dict[str, str]:
    """A digest of every row of every domain table, in one query: equal fingerprints before and
    after a request mean it changed nothing."""
    columns = []
    for model in FINGERPRINTED:
        table = connection.ops.quote_name(model._meta.db_table)
        pk = connection.ops.quote_name(model._meta.pk.column)
        columns.append(f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.{pk}), '')) FROM {table} t)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns))
        row = cursor.fetchone()
    return {model._meta.label: digest for model, digest in zip(FINGERPRINTED, row, strict=True)}


def build_world() -> World:
    """The ``world`` fixture of tests/api/conftest.py (with its ``instrument``), built once."""
    actor = system_actor()
    instrument = instrument_create(
        actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
    )
    reference_price_set(actor=actor, instrument=instrument, price="100.00")
    return populate_world()


@contextmanager
def shared_matrix_world() -> Iterator[MatrixWorld]:
    """Build the world once, inside an atomic block that is rolled back at the end: what Django's
    ``TestCase.setUpTestData`` does. Each test (pytest-django's ``db``) then runs in a savepoint
    of its own, so every test still sees the world exactly as built. The block is tagged as a
    test case's, so the services' durable blocks nest inside it, as they do in any test."""
    outer = transaction.atomic()
    outer._from_testcase = True
    outer.__enter__()
    try:
        currencies_ensure()
        roles_ensure()
        firm_limits_ensure()
        yield build_matrix_world(build_world())
    finally:
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)
