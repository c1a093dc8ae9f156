"""Reconciliation: positions against the ledger, orders against their fills; a break per new
difference, never duplicated while open; the command and the nightly task run it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.compliance.models import ReconciliationBreak
from apps.compliance.reconciliation import ORDER_FILLS, POSITION_VS_LEDGER, reconciliation_run
from apps.compliance.services import exception_review_record
from apps.compliance.tasks import reconcile_task
from apps.core.schedules import SCHEDULES
from apps.ledger import services as ledger
from apps.orders.models import Order, Position
from apps.orders.placement import order_place

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _books_only(settings):  # type: ignore[no-untyped-def]
    """These tests are about our own books: no broker is enabled (the brokers have their own
    tests, test_broker_reconciliation.py; the fills here come from no venue)."""
    settings.BROKERS = {}


def sql(statement: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def holding(account, instrument, actor):  # type: ignore[no-untyped-def]
    """An account holding 10 ACME bought through a real order and fill."""
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="rec")
    order = order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="10",
        limit_price="100.00",
        time_in_force="day",
        client_order_id="rec-1",
    )
    report = ExecutionReport(
        exec_id=f"R{next(_ids)}",
        order_id=order.pk,
        exec_type=ExecType.FILL,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal("10"),
        last_price=Decimal("100.00"),
        fee=Decimal("0"),
        broker_time=datetime(2026, 11, 25, 15, 30, tzinfo=UTC),
    )
    assert intake.receive("paper", report) == "applied"
    return Position.objects.get(account=account, instrument=instrument), Order.objects.get(pk=order.pk)


def test_books_that_agree_give_no_break(holding):
    result = reconciliation_run()
    assert result.ok and result.positions_checked == 1 and result.orders_checked == 1
    assert not ReconciliationBreak.objects.exists()


def test_a_corrupted_position_is_a_break_recorded_once_until_reviewed(holding, actor):
    position, _ = holding
    sql("UPDATE orders_position SET quantity = 13 WHERE id = %s", [position.pk])  # a normal table

    result = reconciliation_run()
    (found,) = result.recorded
    assert found.kind == POSITION_VS_LEDGER and found.account_id == position.account_id
    assert found.details["position_quantity"] == "13" and found.details["ledger_quantity"] == "10"
    assert found.details["difference"] == "3" and found.details["symbol"] == "ACME"
    assert "position 13 but the ledger holds 10" in found.summary

    again = reconciliation_run()  # still broken: not recorded again while open
    assert (again.recorded, len(again.already_open)) == ([], 1)
    assert ReconciliationBreak.objects.count() == 1

    exception_review_record(actor=actor, queue="reconciliation_break", object_ids=[found.pk], note="Escalated.")
    after_review = reconciliation_run()  # reviewed, yet still broken: a new break for the next review
    assert len(after_review.recorded) == 1
    assert ReconciliationBreak.objects.count() == 2


def test_a_position_the_ledger_does_not_know_and_units_without_a_position(holding, make_account, instrument):
    position, _ = holding
    sql("DELETE FROM orders_position WHERE id = %s", [position.pk])
    (missing,) = reconciliation_run().recorded
    assert (missing.details["position_quantity"], missing.details["ledger_quantity"]) == ("0", "10")
    assert missing.details["position_row_exists"] is False


def test_an_order_whose_fills_do_not_add_up(holding):
    _, order = holding
    sql("UPDATE orders_order SET filled_quantity = 7 WHERE id = %s", [order.pk])
    (found,) = reconciliation_run().recorded
    assert found.kind == ORDER_FILLS and found.account_id == order.account_id
    assert (found.details["order_id"], found.details["order_filled_quantity"], found.details["fills_quantity"]) == (
        order.pk,
        "7",
        "10",
    )
    assert found.details["fills"] == 1


def test_the_command_prints_what_it_found(holding):
    position, _ = holding
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "reconciliation OK: 1 positions and 1 orders checked" in out.getvalue()

    sql("UPDATE orders_position SET quantity = 4 WHERE id = %s", [position.pk])
    out = StringIO()
    call_command("reconcile", stdout=out)
    text = out.getvalue()
    brk = ReconciliationBreak.objects.get()
    assert f"NEW break #{brk.pk}: Account" in text and "position 4 but the ledger holds 10" in text
    assert "1 difference(s), 1 new break(s) recorded, 0 already open" in text
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "already open: Account" in out.getvalue()
    assert ReconciliationBreak.objects.count() == 1


def test_the_nightly_task_runs_it_and_is_scheduled(holding):
    position, _ = holding
    sql("UPDATE orders_position SET quantity = 9 WHERE id = %s", [position.pk])
    result = reconcile_task()  # the task's body, as the worker runs it
    brk = ReconciliationBreak.objects.get()
    assert result == {
        "ok": False,
        "positions_checked": 1,
        "orders_checked": 1,
        "differences": 1,
        "recorded": [brk.pk],
        "already_open": 0,
        "brokers": {},
        "alerts": [],
    }
    assert reconcile_task()["recorded"] == []
    from config.celery_app import app

    assert app.tasks["compliance.reconcile"].name == reconcile_task.name
    (schedule,) = [s for s in SCHEDULES if s.task == "compliance.reconcile"]
    assert (schedule.minute, schedule.hour) == ("0", "3")
