"""Placing orders in batches through the service: one answer per item, in order, each the answer
a single placement gives; one transaction and one lock statement per batch; orders of one batch
see each other under risk."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.brokers.models import OrderInstruction
from apps.ledger import services as ledger
from apps.ledger.models import Hold, Purpose
from apps.ledger.verification import verify
from apps.orders import errors
from apps.orders.batch import MAX_BATCH, OrderRequest, order_place_batch
from apps.orders.models import Order, OrderEvent
from apps.orders.placement import order_place
from apps.risk.checks import fee_estimate
from tests.conftest import balance

pytestmark = pytest.mark.django_db

# reads before the locks (instruments, accounts, currency, balance rows), the lock, the replay
# lookup, three risk reads, the routes, five writes; and a savepoint pair inside a test
STATEMENTS_PER_BATCH = 17
PER_ORDER = Decimal(1000) + fee_estimate(Decimal(10), 2)  # a limit buy of 10 @ 100.00 holds this


@pytest.fixture
def fund_with(actor):  # type: ignore[no-untyped-def]
    def fund(account, amount: str):  # type: ignore[no-untyped-def]
        ledger.cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount=amount, idempotency_key=f"fund-{account.pk}"
        )
        return account

    return fund


def single(request: OrderRequest) -> dict:  # type: ignore[type-arg]
    """The request as ``order_place``'s keyword arguments."""
    return {k: v for k, v in vars(request).items() if k not in ("actor", "context")}


def buy(account, coid: str | None = None, **extra) -> OrderRequest:  # type: ignore[no-untyped-def]
    terms = {"symbol": "ACME", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "100.00"}
    terms.update(extra)
    return OrderRequest(account=account, client_order_id=coid, **terms)


def warm(actor, accounts) -> None:  # type: ignore[no-untyped-def]
    """Open the accounts' position rows (a first order opens them: two more statements, once)."""
    order_place_batch(actor=actor, requests=[buy(a, f"warm-{a.pk}", quantity="1") for a in accounts])


def test_orders_of_one_account_in_one_batch_see_each_other_s_holds(account, instrument, actor, fund_with):
    fund_with(account, str(PER_ORDER * 2))  # covers two of the three
    answers = order_place_batch(actor=actor, requests=[buy(account, f"b-{i}") for i in range(3)])
    statuses = [(a.order.status, a.order.reject_reason) for a in answers if a.order]
    assert statuses == [("pending_new", ""), ("pending_new", ""), ("rejected", "insufficient_buying_power")]
    assert [a.order.client_order_id for a in answers if a.order] == ["b-0", "b-1", "b-2"]
    assert balance(account) == 0
    assert balance(account, Purpose.CASH_RESERVED) == PER_ORDER * 2
    assert Hold.objects.filter(status="active").count() == 2
    assert OrderInstruction.objects.filter(action="submit").count() == 2
    assert verify().ok


def test_every_item_gets_its_own_answer_and_one_error_rejects_no_other(make_account, instrument, actor, fund_with):
    account = fund_with(make_account(), "50000")
    poor = make_account()  # nothing to spend: risk refuses, the order is stored
    first = order_place(actor=actor, **single(buy(account, "old")))
    before = Order.objects.count()
    requests = [
        buy(account, "a"),  # accepted
        buy(account, "old"),  # a replay of an earlier order
        buy(account, "old", quantity="11"),  # that id, other terms: 409
        buy(account, "x", side="sideways"),  # malformed
        buy(account, "y", symbol="NOPE"),  # unknown instrument
        buy(999_999_999, "z"),  # unknown account
        buy(poor, "p"),  # rejected by risk
        buy(account, "a"),  # a replay of this batch's first item
        buy(account, "a", quantity="12"),  # this batch's id, other terms: 409
    ]
    answers = order_place_batch(actor=actor, requests=requests)

    assert len(answers) == len(requests)
    accepted = answers[0].order
    assert accepted is not None and accepted.status == "pending_new" and not accepted.replayed
    assert answers[1].order is not None and answers[1].order.pk == first.pk and answers[1].order.replayed
    assert isinstance(answers[2].error, errors.DuplicateClientOrderId)
    assert answers[2].error.extra["order_id"] == first.pk
    assert isinstance(answers[3].error, errors.InvalidOrder) and answers[3].error.extra["field"] == "side"
    assert isinstance(answers[4].error, errors.UnknownInstrument)
    assert isinstance(answers[5].error, errors.UnknownAccount)
    assert answers[6].order is not None and answers[6].order.reject_reason == "insufficient_buying_power"
    assert answers[7].order is not None and answers[7].order.pk == accepted.pk and answers[7].order.replayed
    assert isinstance(answers[8].error, errors.DuplicateClientOrderId)
    assert answers[8].error.extra["order_id"] == accepted.pk
    assert Order.objects.count() == before + 2  # the accepted and the risk-rejected one, nothing else
    assert OrderEvent.objects.filter(order__client_order_id__in=["x", "y", "z"]).count() == 0
    assert verify().ok


def test_a_batch_locks_every_balance_row_in_one_statement_and_finds_replays_in_one(
    make_account, instrument, actor, fund_with
):
    accounts = [fund_with(make_account(), "50000") for _ in range(4)]
    warm(actor, accounts)
    requests = [buy(accounts[i % 4], f"q-{i}") for i in range(20)]
    with CaptureQueriesContext(connection) as queries:
        answers = order_place_batch(actor=actor, requests=requests)
    assert all(a.order is not None and a.order.status == "pending_new" for a in answers)
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("FOR NO KEY UPDATE OF a" in s for s in sql) == 1  # all 16 balance rows, one statement
    assert sum("unnest" in s and "orders_order" in s for s in sql) == 1
    assert sum(s.startswith("SELECT") and "accounts_tradingaccount" in s and "IN" in s for s in sql) >= 1
    assert len(sql) <= STATEMENTS_PER_BATCH


def test_statements_per_batch_do_not_grow_with_its_orders(make_account, instrument, actor, fund_with):
    """Set-based placement: a batch of 60 orders over 6 accounts takes as many statements as a
    batch of one (buys and sells, accepted and rejected)."""
    accounts = [fund_with(make_account(), "50000") for _ in range(6)]
    warm(actor, accounts)
    counts = []
    for size in (1, 60):
        requests = [
            buy(accounts[i % 6], f"s{size}-{i}", **({"side": "sell"} if i % 5 == 4 else {})) for i in range(size)
        ]
        with CaptureQueriesContext(connection) as queries:
            answers = order_place_batch(actor=actor, requests=requests)
        assert all(a.order is not None for a in answers)
        counts.append(len(queries.captured_queries))
    assert {a.order.status for a in answers if a.order} == {"pending_new", "rejected"}  # sells: no shares
    assert counts[0] == counts[1] <= STATEMENTS_PER_BATCH
    assert verify().ok


def test_a_batch_of_one_costs_what_a_single_order_always_did(account, instrument, actor, fund_with):
    fund_with(account, "50000")
    order_place(actor=actor, **single(buy(account, "warm")))
    with CaptureQueriesContext(connection) as queries:
        order_place(actor=actor, **single(buy(account, "one")))
    # reads before the locks (instrument, account, currency, balance rows), the lock, the replay
    # lookup, the risk reads, the hold posting and four inserts; a savepoint inside the test's
    # transaction where production commits
    assert len(queries.captured_queries) <= 17


def test_a_batch_larger_than_the_limit_is_refused_and_stores_nothing(account, instrument, actor, fund_with):
    fund_with(account, "50000")
    with pytest.raises(errors.InvalidOrder) as raised:
        order_place_batch(actor=actor, requests=[buy(account, f"m-{i}") for i in range(MAX_BATCH + 1)])
    assert raised.value.extra["field"] == "orders"
    assert Order.objects.count() == 0


def test_an_empty_batch_answers_nothing(actor):
    assert order_place_batch(actor=actor, requests=[]) == []
