"""Nothing a venue reported is lost: a report handed out by a poll whose intake never committed is
handed out again (defect 3), and a report the venue dropped is found by asking it (resync)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.brokers import registry, relay, resync
from apps.brokers.tasks import resync_task
from apps.core import faults
from apps.core.actors import system_actor
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.ledger.verification import verify
from apps.orders.models import Fill, Order
from apps.orders.placement import order_place
from plugins.paper.models import PaperReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def resting(account, actor, instrument) -> Order:
    """A limit buy at the paper broker, resting below the market."""
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="rr")
    order = order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="10",
        limit_price="95.00",
        time_in_force="gtc",
    )
    relay.relay_once()
    order.refresh_from_db()
    assert order.status == "new"
    return order


def crash_at(name: str):  # type: ignore[no-untyped-def]
    def injector(point: str) -> None:
        if point == name:
            raise faults.InjectedCrash(point)

    return injector


@pytest.mark.parametrize("point", ["relay.poll.after_call", "intake.report.before_commit", "intake.before_acknowledge"])
def test_a_worker_killed_between_the_poll_and_the_commit_loses_no_report(resting, instrument, actor, point):
    reference_price_set(actor=actor, instrument=instrument, price="94.00")
    with faults.injecting(crash_at(point)), pytest.raises(faults.InjectedCrash):
        relay.poll_brokers()
    resting.refresh_from_db()
    booked = resting.filled_quantity
    assert booked == (10 if point == "intake.before_acknowledge" else 0)
    relay.poll_brokers()  # the next poll hands out whatever was not acknowledged
    resting.refresh_from_db()
    assert (resting.status, resting.filled_quantity) == ("filled", Decimal(10))
    assert Fill.objects.filter(order=resting).count() == 1
    assert not PaperReport.objects.filter(acknowledged=False).exists()
    assert verify().ok


def test_a_dropped_fill_is_found_by_asking_the_venue(resting, instrument, actor):
    paper = registry.get_adapter("paper")
    reference_price_set(actor=actor, instrument=instrument, price="94.00")
    lost = list(paper.poll())
    paper.acknowledge([r.exec_id for r in lost])  # the venue's message never reached us
    resting.refresh_from_db()
    assert resting.status == "new"
    assert relay.poll_brokers() == 0
    assert resync_task.run() == 1  # done there, open here: asked
    resting.refresh_from_db()
    assert (resting.status, resting.filled_quantity) == ("filled", Decimal(10))
    assert resync.resync_broker("paper") == 0  # nothing left to ask about
    assert verify().ok


def test_orders_the_relay_still_holds_are_left_to_the_relay(account, actor, instrument):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="rr")
    order_place(
        actor=system_actor(),
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="95.00",
        time_in_force="gtc",
    )
    assert resync.resync_broker("paper") == 0  # its submit waits in the outbox: not the venue's yet
