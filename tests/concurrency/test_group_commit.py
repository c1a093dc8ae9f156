"""Group commit: single orders placed at the same moment on several threads share one placement
transaction, and each caller still gets its own answer, attributed to its own user and request,
only after its order is committed."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from apps.core import context
from apps.core.actors import system_actor
from apps.core.errors import ApplicationError
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import JournalTransaction
from apps.ledger.verification import verify
from apps.orders import batch as batch_module
from apps.orders import group_commit, placement
from apps.orders.models import Order, OrderEvent
from apps.risk.checks import fee_estimate
from tests.concurrency.harness import run_in_threads
from tests.factories import TradingAccountFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 9
PER_ORDER = Decimal(1000) + fee_estimate(Decimal(10), 2)  # a limit buy of 10 @ 100.00 holds this


@pytest.fixture
def acme(transactional_db):  # type: ignore[no-untyped-def]
    actor = system_actor()
    inst = instrument_create(actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1")
    reference_price_set(actor=actor, instrument=inst, price="100.00")
    return inst


@pytest.fixture
def held_first_batch(monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh committer whose first transaction waits until every other caller is queued, so
    that they must share the second one (whatever the scheduler does)."""
    committer = group_commit.GroupCommit()
    monkeypatch.setattr(placement, "committer", committer)
    real = batch_module.order_place_batch
    calls = []

    def slow_first(**kwargs: Any) -> Any:
        calls.append(len(kwargs["requests"]))
        if len(calls) == 1:
            deadline = time.monotonic() + 20
            while len(committer._queue) < THREADS - 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        return real(**kwargs)

    monkeypatch.setattr(group_commit, "order_place_batch", slow_first)
    return committer, calls


def test_concurrent_single_orders_share_a_transaction_and_each_gets_its_own_answer(acme, held_first_batch):
    committer, calls = held_first_batch
    rich = TradingAccountFactory(name="Rich")
    poor = TradingAccountFactory(name="Poor")
    ledger.cash_deposit(
        actor=system_actor(), trading_account=rich, currency="USD", amount="100000", idempotency_key="gc-rich"
    )
    ledger.cash_deposit(
        actor=system_actor(), trading_account=poor, currency="USD", amount=PER_ORDER * 2, idempotency_key="gc-poor"
    )
    users = [UserFactory(username=f"gc-{i}") for i in range(THREADS)]

    def place(i: int) -> Any:
        account = poor if i % 2 else rich
        coid = "clash" if i in (2, 4) else f"gc-{i}"  # two callers, one id, other terms
        ctx = context.RequestContext(correlation_id=f"corr-{i}", source_ip=f"10.0.0.{i}", actor_id=users[i].pk)
        with context.bind(ctx):
            try:
                return placement.order_place(
                    actor=users[i],
                    account=account,
                    symbol="ACME",
                    side="buy",
                    type="limit",
                    quantity=str(10 + (i == 4)),
                    limit_price="100.00",
                    client_order_id=coid,
                )
            except ApplicationError as exc:
                return exc

    outcomes = run_in_threads(THREADS, place)
    assert [o.error for o in outcomes] == [None] * THREADS
    assert calls == [1, THREADS - 1] and committer.batches == 2  # one alone, then all the others together

    answers = [o.value for o in outcomes]
    clash = [a for i, a in enumerate(answers) if i in (2, 4)]
    assert sum(isinstance(a, Order) for a in clash) == 1 and sum(isinstance(a, ApplicationError) for a in clash) == 1
    orders = {i: a for i, a in enumerate(answers) if isinstance(a, Order)}
    for i, order in orders.items():
        assert order.client_order_id == ("clash" if i in (2, 4) else f"gc-{i}")
        events = OrderEvent.objects.filter(order=order)
        assert {e.actor_id for e in events} == {users[i].pk}
        assert {(e.correlation_id, e.source_ip) for e in events} == {(f"corr-{i}", f"10.0.0.{i}")}
        if order.hold_id:
            posting = JournalTransaction.objects.get(pk=order.hold.reserve_transaction_id)
            assert (posting.actor_id, posting.correlation_id) == (users[i].pk, f"corr-{i}")
    poor_orders = [o for o in orders.values() if o.account_id == poor.pk]
    assert sorted(o.status for o in poor_orders) == ["pending_new", "pending_new", "rejected", "rejected"]
    assert Order.objects.count() == THREADS - 1
    assert verify().ok


def test_a_lone_order_waits_for_nobody(acme, monkeypatch):
    committer = group_commit.GroupCommit()
    monkeypatch.setattr(placement, "committer", committer)
    account = TradingAccountFactory()
    ledger.cash_deposit(
        actor=system_actor(), trading_account=account, currency="USD", amount="5000", idempotency_key="gc-lone"
    )
    order = placement.order_place(
        actor=system_actor(), account=account, symbol="ACME", side="buy", type="limit", quantity="1", limit_price="99"
    )
    assert order.status == "pending_new" and committer.batches == 1 and not committer._queue
