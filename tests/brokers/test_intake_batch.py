"""The intake of a batch of reports: one transaction, every row locked once, the same result as
one report at a time; a bad report never costs its neighbours; a crash before the commit loses
nothing."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.brokers import intake, relay
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import ExecutionReportRecord
from apps.core import faults
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import LedgerAccount
from apps.ledger.verification import verify
from apps.orders.models import Fill, Order, Position
from apps.orders.placement import order_place
from plugins.paper.models import PaperReport

pytestmark = pytest.mark.django_db
_coids = itertools.count(1)


def resting_buys(actor, account, count: int, quantity: str = "10") -> list[Order]:
    """Limit buys below the market, acknowledged by the paper broker (NEW only)."""
    orders = [
        order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity=quantity,
            limit_price="95.00",
            time_in_force="gtc",
            client_order_id=f"ib-{next(_coids)}",
        )
        for _ in range(count)
    ]
    relay.relay_once()
    for order in orders:
        order.refresh_from_db()
        assert order.status == "new"
    return orders


def fill(order: Order, n: int, quantity: str, cumulative: str, price: str = "94.50") -> ExecutionReport:
    leaves = order.quantity - Decimal(cumulative)
    return ExecutionReport(
        exec_id=f"T-{order.pk}-{n}",
        order_id=order.pk,
        exec_type=ExecType.FILL if leaves == 0 else ExecType.PARTIAL_FILL,
        broker_order_id=order.broker_order_id,
        last_quantity=Decimal(quantity),
        last_price=Decimal(price),
        fee=Decimal("1.00"),
        cumulative_quantity=Decimal(cumulative),
        leaves_quantity=leaves,
        broker_time=timezone.now(),
        quantity=order.quantity,
    )


@pytest.fixture
def two_accounts(make_account, actor):
    accounts = [make_account(), make_account()]
    for a in accounts:
        ledger.cash_deposit(actor=actor, trading_account=a, currency="USD", amount="50000", idempotency_key=f"b{a.pk}")
    return accounts


def test_a_batch_locks_every_row_once_and_books_every_fill(actor, instrument, two_accounts):
    orders = [o for a in two_accounts for o in resting_buys(actor, a, 4)]
    reports = [fill(o, 1, "10", "10") for o in orders]
    with CaptureQueriesContext(connection) as captured:
        outcomes = intake.receive_many("paper", reports)
    assert outcomes == ["applied"] * 8
    locking = [q["sql"] for q in captured.captured_queries if "FOR NO KEY UPDATE" in q["sql"]]
    # orders, ledger accounts (client and house together), holds, positions: one statement each
    assert len(locking) == 4, locking
    assert sum("ledger_ledgeraccount" in sql for sql in locking) == 1
    assert sum("INSERT INTO brokers_executionreport" in q["sql"] for q in captured.captured_queries) == 1
    for order in orders:
        order.refresh_from_db()
        assert (order.status, order.filled_quantity) == ("filled", Decimal(10))
    for account in two_accounts:
        position = Position.objects.get(account=account, instrument=instrument)
        assert position.quantity == 40
        assert position.cost_basis == Decimal("3784.00")  # 4 times (10 at 94.50, plus 1.00 fee)
    assert Fill.objects.count() == 8
    assert verify().ok


def test_a_batch_ends_exactly_as_the_same_reports_one_at_a_time(actor, instrument, two_accounts):
    """The same reports (partial fills, a final fill, a duplicate, a cancel) for two mirrored
    accounts: one account's in one batch, the other's one report per call."""
    books = []
    for account in two_accounts:
        a, b, c = resting_buys(actor, account, 3)
        books.append(
            [
                fill(a, 1, "4", "4"),
                fill(b, 1, "10", "10", price="94.00"),
                fill(a, 2, "6", "10", price="94.99"),
                fill(c, 1, "3", "3"),
                fill(a, 1, "4", "4"),  # the same exec id again
                ExecutionReport(
                    exec_id=f"T-{c.pk}-2",
                    order_id=c.pk,
                    exec_type=ExecType.CANCELED,
                    broker_order_id=c.broker_order_id,
                    cumulative_quantity=Decimal(3),
                    quantity=c.quantity,
                ),
            ]
        )
    batched = intake.receive_many("paper", books[0])
    alone = [intake.receive("paper", r) for r in books[1]]
    assert batched == alone == ["applied", "applied", "applied", "applied", "duplicate", "applied"]

    def state(account):
        orders = list(
            Order.objects.filter(account=account)
            .order_by("id")
            .values_list("status", "filled_quantity", "fees", "average_fill_price", "hold__remaining", "hold__status")
        )
        balances = sorted(
            LedgerAccount.objects.filter(trading_account=account).values_list("purpose", "asset__code", "balance")
        )
        position = Position.objects.filter(account=account).values_list("quantity", "cost_basis").get()
        return orders, balances, position

    assert state(two_accounts[0]) == state(two_accounts[1])
    assert verify().ok


def test_a_bad_report_is_dead_lettered_and_its_neighbours_are_booked(actor, instrument, two_accounts):
    orders = resting_buys(actor, two_accounts[0], 2)
    reports = [
        fill(orders[0], 1, "10", "10"),
        fill(orders[1], 1, "10", "10"),
        ExecutionReport(exec_id="T-unknown", order_id=orders[1].pk + 1000, exec_type=ExecType.NEW),
        ExecutionReport(exec_id="", order_id=orders[0].pk, exec_type=ExecType.NEW),  # no exec id
    ]
    assert intake.receive_many("paper", reports) == ["applied", "applied", "dead", "dead"]
    assert Fill.objects.count() == 2
    dead = dict(ExecutionReportRecord.objects.filter(status="dead").values_list("exec_id", "error"))
    assert len(dead) == 2
    assert "order_not_found" in dead["T-unknown"]
    assert verify().ok


def test_a_dead_letter_delivered_again_in_a_batch_is_tried_again(actor, instrument, two_accounts):
    orders = resting_buys(actor, two_accounts[0], 2)
    early = fill(orders[0], 1, "10", "10")
    ExecutionReportRecord.objects.create(
        broker="paper",
        exec_id=early.exec_id,
        order_id=early.order_id,
        exec_type="fill",
        payload={},
        status="dead",
        error="earlier failure",
        received_at=timezone.now(),
    )
    assert intake.receive_many("paper", [early, fill(orders[1], 1, "10", "10")]) == ["applied", "applied"]
    record = ExecutionReportRecord.objects.get(exec_id=early.exec_id)
    assert (record.status, record.attempts) == ("applied", 2)
    assert Fill.objects.count() == 2


def test_a_crash_before_the_batch_commits_loses_nothing(actor, instrument, two_accounts):
    orders = resting_buys(actor, two_accounts[0], 3)
    reference_price_set(actor=actor, instrument=instrument, price="94.00")  # all three now fill

    def crash(point: str) -> None:
        if point == "intake.batch.before_commit":
            raise faults.InjectedCrash(point)

    with faults.injecting(crash), pytest.raises(faults.InjectedCrash):
        relay.poll_brokers()
    assert not Fill.objects.exists()
    assert not ExecutionReportRecord.objects.filter(exec_type="fill").exists()
    relay.poll_brokers()  # handed out again: never acknowledged
    for order in orders:
        order.refresh_from_db()
        assert order.status == "filled"
    assert Fill.objects.count() == 3
    assert not PaperReport.objects.filter(acknowledged=False).exists()
    assert verify().ok
