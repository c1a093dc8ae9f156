"""The mark-to-market job in a real Celery worker on a real broker: the task is sent by its
name (as beat sends it), the worker marks the account, and the breach moves it to reducing."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.compliance.models import AlertKind, ComplianceAlert
from apps.core.actors import system_actor
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.orders.placement import order_place
from apps.risk.models import ExposureSnapshot, TradingState
from apps.risk.services import risk_limits_set
from config.celery_app import app as celery_app
from tests.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_beat_task_marks_to_market_and_flips_the_state(account, instrument, tmp_path: Path):
    actor = system_actor()
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="100000", idempotency_key="w")
    order = order_place(
        actor=actor, account=account, symbol="ACME", side="buy", type="limit", quantity="100", limit_price="100.00"
    )
    report = ExecutionReport(
        exec_id="mtm-worker-1",
        order_id=order.pk,
        exec_type=ExecType.FILL,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(100),
        last_price=Decimal("100.00"),
    )
    assert intake.receive("paper", report) == "applied"
    risk_limits_set(actor=actor, account=account, daily_loss_limit=Decimal(500))
    reference_price_set(actor=actor, instrument=instrument, price="94.00")  # -600.00

    with running_worker(tmp_path) as worker:
        with celery_app.connection_for_write(worker.broker.url, transport_options=worker.broker.options) as conn:
            celery_app.send_task("orders.mark_to_market", connection=conn, queue=worker.broker.queue)
        deadline = time.monotonic() + 30
        while not TradingState.objects.filter(account=account).exists():
            if time.monotonic() > deadline:
                pytest.fail(f"no state change; worker log:\n{worker.log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)
        worker.wait_for(r"orders\.mark_to_market\[[^\]]+\] succeeded")

    state = TradingState.objects.get(account=account)
    assert state.state == "reducing"
    assert state.reason == "daily_loss_limit: daily P&L -600.00 USD beyond -500.00"
    assert ExposureSnapshot.objects.filter(account=account).get().daily_pnl == Decimal("-600")
    assert ComplianceAlert.objects.get().kind == AlertKind.RISK_LIMIT_BREACHED
