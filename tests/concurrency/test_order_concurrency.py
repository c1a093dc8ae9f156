"""Placing orders under real concurrency: threads released together by a barrier, each on its
own PostgreSQL connection (closed when the thread ends), against one account.

The pre-trade checks run inside the placing transaction under ``FOR NO KEY UPDATE`` locks of
the account's cash and position rows, so concurrent orders are decided one after another on
committed data: they cannot overspend cash, oversell shares, outrun the order-rate throttle,
or place a duplicate ``client_order_id`` twice. ``select_for_update`` means nothing inside a
test transaction, so these tests commit (``transaction=True``); the autouse
``_reference_data`` fixture restores currencies, roles, firm limits and the system actor after
each flush. Accepting an order enqueues the relay on commit: in tests that is the in-memory
Celery broker, and nothing consumes it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import OrderInstruction
from apps.core.actors import system_actor
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import Hold, JournalEntry, LedgerAccount, Purpose
from apps.ledger.verification import verify
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.risk.checks import fee_estimate
from apps.risk.services import risk_limits_set
from tests.concurrency.harness import run_in_threads
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
QUANTITY, PRICE = Decimal(10), Decimal("100.00")
# What one limit buy of 10 at 100.00 holds: the notional plus the commission estimate.
PER_ORDER = QUANTITY * PRICE + fee_estimate(QUANTITY, 2)
COVERED = 5  # the cash (or shares) cover exactly this many of the THREADS orders


@pytest.fixture
def acme(transactional_db):  # type: ignore[no-untyped-def]
    actor = system_actor()
    inst = instrument_create(actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1")
    reference_price_set(actor=actor, instrument=inst, price="100.00")
    return inst


def fund(account: Any, amount: Decimal, key: str) -> None:
    ledger.cash_deposit(
        actor=system_actor(), trading_account=account, currency="USD", amount=amount, idempotency_key=key
    )


def place(account: Any, side: str, quantity: Decimal = QUANTITY, **extra: Any) -> Order:
    return order_place(
        actor=system_actor(),
        account=account,
        symbol="ACME",
        side=side,
        type="limit",
        quantity=quantity,
        limit_price=PRICE,
        time_in_force="day",
        **extra,
    )


def ledger_account(account: Any, purpose: str, code: str) -> LedgerAccount:
    return LedgerAccount.objects.get(trading_account=account, purpose=purpose, asset__code=code)


def never_negative(row: LedgerAccount) -> bool:
    """No balance the account ever had (after each entry) was below zero."""
    return not JournalEntry.objects.filter(ledger_account=row, balance_after__lt=0).exists()


def split(orders: list[Order]) -> tuple[list[Order], list[Order]]:
    accepted = [o for o in orders if o.status == "pending_new"]
    rejected = [o for o in orders if o.status == "rejected"]
    assert len(accepted) + len(rejected) == len(orders)
    return accepted, rejected


def assert_holds(account: Any, accepted: list[Order], rejected: list[Order], amount: Decimal) -> None:
    holds = Hold.objects.filter(order__account=account)
    assert sorted(holds.values_list("order__id", flat=True)) == sorted(o.pk for o in accepted)
    assert set(holds.values_list("status", "amount", "remaining")) == {("active", amount, amount)}
    assert not Order.objects.filter(pk__in=[o.pk for o in rejected], hold__isnull=False).exists()
    assert sorted(OrderInstruction.objects.values_list("order_id", flat=True)) == sorted(o.pk for o in accepted)


# --- (a) buys racing for one account's cash ------------------------------------------------------


def test_concurrent_buys_never_spend_more_than_the_cash(acme):
    """16 limit buys of 10 at 100.00 (1,001.00 each with the commission estimate) on an account
    holding exactly 5 x 1,001.00: exactly 5 are accepted, 11 are rejected for buying power, the
    cash ends at zero, never went negative, and 5 x 1,001.00 is reserved."""
    assert Decimal("1001.00") == PER_ORDER
    account = TradingAccountFactory(name="Buy race")
    fund(account, COVERED * PER_ORDER, "buy-race")

    outcomes = run_in_threads(THREADS, lambda i: place(account, "buy", client_order_id=f"buy-{i}"))

    accepted, rejected = split([o.value for o in outcomes])
    assert len(accepted) == COVERED
    assert {o.reject_reason for o in rejected} == {"insufficient_buying_power"}
    assert len(rejected) == THREADS - COVERED
    available = ledger_account(account, Purpose.CASH_AVAILABLE, "USD")
    reserved = ledger_account(account, Purpose.CASH_RESERVED, "USD")
    assert (available.balance, reserved.balance) == (Decimal(0), COVERED * PER_ORDER)
    assert never_negative(available)
    assert_holds(account, accepted, rejected, PER_ORDER)
    assert Order.objects.filter(account=account).count() == THREADS
    assert verify().ok


# --- (b) sells racing for one account's shares ---------------------------------------------------


def test_concurrent_sells_never_sell_more_than_the_shares(acme):
    """The account holds exactly 5 x 10 shares (a filled buy); 16 limit sells of 10: exactly 5
    are accepted, 11 rejected for want of shares, all 50 shares are reserved, none available."""
    account = TradingAccountFactory(name="Sell race")
    fund(account, Decimal("10000.00"), "sell-race")
    buy = place(account, "buy", quantity=COVERED * QUANTITY, client_order_id="shares")
    assert buy.status == "pending_new"
    fill = ExecutionReport(
        exec_id="sell-race-fill",
        order_id=buy.pk,
        exec_type=ExecType.FILL,
        broker_order_id="B-shares",
        last_quantity=COVERED * QUANTITY,
        last_price=PRICE,
    )
    assert intake.receive("paper", fill) == "applied"
    shares = ledger_account(account, Purpose.POSITION_AVAILABLE, "ACME")
    assert shares.balance == COVERED * QUANTITY

    outcomes = run_in_threads(THREADS, lambda i: place(account, "sell", client_order_id=f"sell-{i}"))

    accepted, rejected = split([o.value for o in outcomes])
    assert len(accepted) == COVERED
    assert {o.reject_reason for o in rejected} == {"insufficient_position"}
    shares.refresh_from_db()
    reserved = ledger_account(account, Purpose.POSITION_RESERVED, "ACME")
    assert (shares.balance, reserved.balance) == (Decimal(0), COVERED * QUANTITY)
    assert never_negative(shares)
    sells = [o for o in accepted if o.side == "sell"]
    holds = Hold.objects.filter(order__in=sells)
    assert set(holds.values_list("status", "amount", "remaining")) == {("active", QUANTITY, QUANTITY)}
    assert holds.count() == COVERED
    assert not Order.objects.filter(pk__in=[o.pk for o in rejected], hold__isnull=False).exists()
    assert verify().ok


# --- (c) the order-rate throttle under concurrency --------------------------------------------------


def test_the_order_rate_throttle_holds_under_concurrency(acme):
    """max_orders_per_second = 3 for the account, every other limit far away and plenty of
    cash: of 16 orders at once, at most 3 are accepted and every other one is refused by the
    throttle. Orders are decided one at a time under the account's locks, each stamped after
    taking them, so the rule can be checked exactly whatever the timing: an order is accepted
    if and only if fewer than 3 orders (of any outcome) were placed in the second before it
    (orders that share a group commit share its timestamp and were decided in id order)."""
    limit = 3
    account = TradingAccountFactory(name="Rate race")
    fund(account, Decimal("100000.00"), "rate-race")
    risk_limits_set(actor=system_actor(), account=account, max_orders_per_second=limit)

    outcomes = run_in_threads(THREADS, lambda i: place(account, "buy", quantity=Decimal(1), client_order_id=f"r{i}"))

    accepted, rejected = split([o.value for o in outcomes])
    assert 1 <= len(accepted) <= limit
    assert {o.reject_reason for o in rejected} == {"order_rate"}
    placed = sorted(Order.objects.filter(account=account).values_list("created_at", "id", "status"))
    assert len(placed) == THREADS
    for at, pk, status in placed:
        before = sum(
            1 for other, other_pk, _ in placed if at - timedelta(seconds=1) < other and (other, other_pk) < (at, pk)
        )
        assert (status == "pending_new") == (before < limit), (at, status, before)
    assert Hold.objects.filter(order__account=account).count() == len(accepted)
    assert verify().ok


# --- (d) the same client_order_id from many threads -------------------------------------------------


def test_concurrent_duplicates_place_one_order(acme):
    """8 threads place the same client_order_id with the same terms, three rounds: each round
    every thread gets the same order, one call placed it and the others replayed it, one hold."""
    duplicates, rounds = 8, 3
    account = TradingAccountFactory(name="Duplicate orders")
    fund(account, Decimal("10000.00"), "dup-orders")
    for r in range(rounds):
        coid = f"dup-{r}"
        outcomes = run_in_threads(duplicates, lambda i, coid=coid: place(account, "buy", client_order_id=coid))
        orders = [o.value for o in outcomes]
        assert len({o.pk for o in orders}) == 1, "every thread got the same order"
        assert sum(not o.replayed for o in orders) == 1, "one call placed it, the others replayed it"
        stored = Order.objects.get(account=account, client_order_id=coid)
        assert (stored.pk, stored.status) == (orders[0].pk, "pending_new")
        assert Hold.objects.filter(order=stored).count() == 1
        assert OrderInstruction.objects.filter(order=stored).count() == 1
        assert stored.events.count() == 2
    assert Order.objects.filter(account=account).count() == rounds
    reserved = ledger_account(account, Purpose.CASH_RESERVED, "USD")
    assert reserved.balance == rounds * PER_ORDER
    assert ledger_account(account, Purpose.CASH_AVAILABLE, "USD").balance == Decimal("10000.00") - rounds * PER_ORDER
    assert verify().ok


# --- (g) batches racing over the same accounts ---------------------------------------------------


def test_concurrent_batches_over_the_same_accounts_never_overspend_or_deadlock(acme):
    """Eight threads each place one batch of eight buys spread over four accounts, each account
    funded for exactly five orders, every batch naming the accounts in its own order: all the
    balance rows of a batch are locked in one statement in key order, so no batch deadlocks
    another, and each account accepts exactly five orders across all the batches."""
    from apps.orders.batch import OrderRequest, order_place_batch

    accounts = [TradingAccountFactory(name=f"Batch race {n}") for n in range(4)]
    for account in accounts:
        fund(account, COVERED * PER_ORDER, f"batch-race-{account.pk}")

    def batch(i: int) -> list[Any]:
        mine = accounts[i % 4 :] + accounts[: i % 4]  # a different account order per thread
        requests = [
            OrderRequest(
                account=mine[k % 4],
                symbol="ACME",
                side="buy",
                type="limit",
                quantity=QUANTITY,
                limit_price=PRICE,
                client_order_id=f"batch-{i}-{k}",
            )
            for k in range(8)
        ]
        return order_place_batch(actor=system_actor(), requests=requests)

    outcomes = run_in_threads(8, batch)
    assert [o.error for o in outcomes] == [None] * 8
    answers = [a for o in outcomes for a in o.value]
    assert all(a.error is None and a.order is not None for a in answers)
    for account in accounts:
        accepted, rejected = split([a.order for a in answers if a.order.account_id == account.pk])
        assert len(accepted) == COVERED and len(rejected) == 16 - COVERED
        assert {o.reject_reason for o in rejected} == {"insufficient_buying_power"}
        available = ledger_account(account, Purpose.CASH_AVAILABLE, "USD")
        assert available.balance == 0 and never_negative(available)
    assert verify().ok


def test_concurrent_batches_with_the_same_client_order_ids_place_each_order_once(acme):
    """Four threads send the same batch of six orders at once: each order is placed once, and every
    other thread gets it back as a replay (the unique constraint, then a retry of the batch)."""
    from apps.orders.batch import OrderRequest, order_place_batch

    account = TradingAccountFactory(name="Batch replay race")
    fund(account, Decimal("100000.00"), "batch-replay-race")
    requests = [
        OrderRequest(
            account=account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity=QUANTITY,
            limit_price=PRICE,
            client_order_id=f"same-{k}",
        )
        for k in range(6)
    ]
    outcomes = run_in_threads(4, lambda i: order_place_batch(actor=system_actor(), requests=requests))
    assert [o.error for o in outcomes] == [None] * 4
    by_coid: dict[str, set[int]] = {}
    fresh = 0
    for outcome in outcomes:
        for answer in outcome.value:
            assert answer.error is None
            by_coid.setdefault(answer.order.client_order_id, set()).add(answer.order.pk)
            fresh += not answer.order.replayed
    assert all(len(ids) == 1 for ids in by_coid.values()) and len(by_coid) == 6
    assert fresh == 6
    assert Order.objects.filter(account=account).count() == 6
    assert Hold.objects.filter(order__account=account).count() == 6
    assert verify().ok
