"""The ledger under real concurrency: threads released together by a barrier, each on its own
PostgreSQL connection (Django gives every thread its own; each closes it when done).

``select_for_update`` means nothing inside one test transaction, so these tests commit for
real (``transaction=True``); the autouse ``_reference_data`` fixture restores the currencies
and the system actor that the flush between tests removes.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from apps.core import db as core_db
from apps.core.actors import system_actor
from apps.ledger import errors, services
from apps.ledger.legs import Leg
from apps.ledger.models import Hold, HoldStatus, JournalTransaction, LedgerAccount, Purpose, TransactionKind
from apps.ledger.verification import verify
from tests.concurrency.harness import Outcome, run_in_threads
from tests.conftest import balance, cash
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def retries(monkeypatch, transactional_db):
    """Every OperationalError the services' retry loop caught (deadlock 40P01, serialization
    failure 40001, ...): the real ``is_retryable`` still decides, this only records."""
    seen: list[str | None] = []
    lock = threading.Lock()
    real = core_db.is_retryable

    def recording(exc: BaseException) -> bool:
        with lock:
            seen.append(getattr(exc.__cause__, "sqlstate", None))
        return real(exc)

    monkeypatch.setattr(core_db, "is_retryable", recording)

    # The recorder is wired: the retry loop consults it for an OperationalError it catches.
    @core_db.atomic_with_retry(attempts=1)
    def probe() -> None:
        raise OperationalError("probe")

    with pytest.raises(OperationalError):
        probe()
    assert seen == [None], "the services' retry loop no longer goes through apps.core.db.is_retryable"
    seen.clear()
    return seen


def deadlocks_so_far() -> int:
    """PostgreSQL's count of deadlocks detected in this database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        (count,) = cursor.fetchone()
    return count


def assert_verified() -> None:
    report = verify()
    assert report.ok, report.problems


def fund(actor, account, amount: str, key: str) -> None:
    services.cash_deposit(actor=actor, trading_account=account, currency="USD", amount=amount, idempotency_key=key)


def transfer(actor, source: LedgerAccount, destination: LedgerAccount, amount: Decimal, key: str) -> JournalTransaction:
    return services.journal_transaction_post(
        actor=actor,
        kind=TransactionKind.TRANSFER,
        legs=[Leg(source.pk, -amount), Leg(destination.pk, amount)],
        idempotency_key=key,
    )


# --- (a) many threads draining one account ---------------------------------------------------


def test_racing_withdrawals_and_transfers_never_overdraw(retries):
    """10 threads x 6 withdrawals and transfers of 2..5 USD out of one account holding 100 USD
    (about 210 USD asked): the account ends at exactly 100 minus what succeeded, never below
    zero; every refusal is InsufficientFunds and was genuine; no deadlock, no retry."""
    actor = system_actor()
    source, first, second = (TradingAccountFactory(name=f"Race {name}") for name in ("source", "first", "second"))
    fund(actor, source, "100.00", "race-fund")
    src, dst = cash(source), {"first": cash(first), "second": cash(second)}
    clearing = services.ledger_account_get_or_create(
        trading_account_id=None, purpose=Purpose.WITHDRAWAL_CLEARING, asset=src.asset
    )
    clearing_before = LedgerAccount.objects.get(pk=clearing.pk).balance
    threads, per_thread = 10, 6

    def work(i: int) -> list[tuple[str, Decimal, bool]]:
        results = []
        for j in range(per_thread):
            amount = Decimal(2 + (i + j) % 4)
            kind = ("withdraw", "first", "second")[(i + j) % 3]
            key = f"race-{i}-{j}"
            try:
                if kind == "withdraw":
                    services.cash_withdraw(
                        actor=actor, trading_account=source, currency="USD", amount=amount, idempotency_key=key
                    )
                else:
                    transfer(actor, src, dst[kind], amount, key)
            except errors.InsufficientFunds:
                results.append((kind, amount, False))
            else:
                results.append((kind, amount, True))
        return results

    outcomes = run_in_threads(threads, work)

    assert [o.error for o in outcomes if o.error is not None] == []
    ops = [op for o in outcomes for op in o.value]
    assert len(ops) == threads * per_thread
    done = [(kind, amount) for kind, amount, ok in ops if ok]
    refused = [amount for _, amount, ok in ops if not ok]
    assert done and refused, "demand exceeds the cash: some calls succeed, some are refused"
    final = balance(source)
    assert final == Decimal("100.00") - sum(amount for _, amount in done)
    assert final >= 0
    # The balance only ever falls, so each refused amount exceeded even the final balance.
    assert all(amount > final for amount in refused)
    assert balance(first) == sum(amount for kind, amount in done if kind == "first")
    assert balance(second) == sum(amount for kind, amount in done if kind == "second")
    withdrawn = sum(amount for kind, amount in done if kind == "withdraw")
    assert LedgerAccount.objects.get(pk=clearing.pk).balance - clearing_before == withdrawn
    assert JournalTransaction.objects.filter(idempotency_key__startswith="race-").count() == 1 + len(done)
    assert retries == []
    assert_verified()


# --- (b) a hot spot: value moving both ways between two accounts ------------------------------


def test_hot_spot_both_ways_between_two_accounts_without_deadlock_or_retry(retries):
    """6 workers x 50 transfers, alternately A->B and B->A, between the same two accounts: all
    succeed, no deadlock (40P01) or serialization failure (40001) surfaces or is even retried
    (the services' retry loop saw no OperationalError, PostgreSQL counted no deadlock), and
    both balances end where they started."""
    actor = system_actor()
    left, right = TradingAccountFactory(name="Hot left"), TradingAccountFactory(name="Hot right")
    fund(actor, left, "1000.00", "hot-fund-left")
    fund(actor, right, "1000.00", "hot-fund-right")
    a, b = cash(left), cash(right)
    workers, iterations = 6, 50
    deadlocks_before = deadlocks_so_far()

    def work(i: int) -> int:
        amount = Decimal(i + 1)
        for j in range(iterations):
            source, destination = (a, b) if (i + j) % 2 == 0 else (b, a)
            txn = transfer(actor, source, destination, amount, f"hot-{i}-{j}")
            assert not txn.replayed
        return iterations

    outcomes = run_in_threads(workers, work)

    assert [repr(o.error) for o in outcomes if o.error is not None] == []
    assert [o.value for o in outcomes] == [iterations] * workers
    assert retries == [], f"the retry loop caught {retries}"
    time.sleep(0.5)  # statistics reach the shared counters asynchronously
    assert deadlocks_so_far() - deadlocks_before == 0
    assert (balance(left), balance(right)) == (Decimal("1000.00"), Decimal("1000.00"))
    assert JournalTransaction.objects.filter(idempotency_key__startswith="hot-").count() == 2 + workers * iterations
    assert LedgerAccount.objects.get(pk=a.pk).version == 1 + workers * iterations
    assert_verified()


# --- (c) holds racing for one account's cash -------------------------------------------------


def test_concurrent_holds_reserve_no_more_than_the_cash(retries):
    """16 threads each hold 25 USD on an account holding 135 USD, which covers exactly 5 holds:
    exactly 5 succeed, 11 are refused with InsufficientFunds, 125 USD is reserved."""
    actor = system_actor()
    account = TradingAccountFactory(name="Holds race")
    fund(actor, account, "135.00", "holds-fund")
    available = cash(account)
    threads, amount, covered = 16, Decimal("25.00"), 5

    outcomes = run_in_threads(
        threads,
        lambda i: services.hold_reserve(actor=actor, account=available, amount=amount, idempotency_key=f"hold-{i}"),
    )

    holds = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(holds) == covered
    assert [type(e) for e in refused] == [errors.InsufficientFunds] * (threads - covered), refused
    assert balance(account, Purpose.CASH_RESERVED) == covered * amount
    assert balance(account) == Decimal("10.00")
    stored = Hold.objects.filter(available_account=available)
    assert sorted(stored.values_list("pk", flat=True)) == sorted(h.pk for h in holds)
    assert set(stored.values_list("status", "remaining")) == {(HoldStatus.ACTIVE, amount)}
    assert retries == []
    assert_verified()


# --- (d) the same idempotency key posted by many threads at once -----------------------------

DUPLICATES = 8
ROUNDS = 3


def assert_one_answer(outcomes: list[Outcome], key: str) -> JournalTransaction:
    """No thread failed, all got the same transaction, it exists once, exactly one thread posted it."""
    assert [repr(o.error) for o in outcomes if o.error is not None] == []
    txns = [o.value.reserve_transaction if isinstance(o.value, Hold) else o.value for o in outcomes]
    assert len({txn.pk for txn in txns}) == 1, "threads got different transactions"
    assert JournalTransaction.objects.filter(idempotency_key=key).count() == 1
    if not isinstance(outcomes[0].value, Hold):
        assert sum(not txn.replayed for txn in txns) == 1, "exactly one call posts, the others replay"
    return txns[0]


def test_concurrent_duplicate_deposits_post_once(retries):
    actor = system_actor()
    account = TradingAccountFactory(name="Duplicate deposits")
    for r in range(ROUNDS):
        key = f"dup-deposit-{r}"
        outcomes = run_in_threads(
            DUPLICATES,
            lambda i, key=key: services.cash_deposit(
                actor=actor, trading_account=account, currency="USD", amount="10.00", idempotency_key=key
            ),
        )
        assert_one_answer(outcomes, key)
    assert balance(account) == Decimal("10.00") * ROUNDS
    assert retries == []
    assert_verified()


def test_concurrent_duplicates_of_a_transfer_of_the_whole_balance_replay(retries):
    """The twins of a transfer that empties the account must replay it, not be refused for
    want of the cash their own first copy just moved."""
    actor = system_actor()
    payer, payee = TradingAccountFactory(name="Duplicate payer"), TradingAccountFactory(name="Duplicate payee")
    source, destination = cash(payer), cash(payee)
    for r in range(ROUNDS):
        fund(actor, payer, "50.00", f"dup-transfer-fund-{r}")
        key = f"dup-transfer-{r}"
        outcomes = run_in_threads(
            DUPLICATES, lambda i, key=key: transfer(actor, source, destination, Decimal("50.00"), key)
        )
        assert_one_answer(outcomes, key)
    assert (balance(payer), balance(payee)) == (Decimal(0), Decimal("50.00") * ROUNDS)
    assert retries == []
    assert_verified()


def test_concurrent_duplicates_of_a_hold_of_the_whole_balance_replay(retries):
    actor = system_actor()
    account = TradingAccountFactory(name="Duplicate holds")
    available = cash(account)
    for r in range(ROUNDS):
        fund(actor, account, "50.00", f"dup-hold-fund-{r}")
        key = f"dup-hold-{r}"
        outcomes = run_in_threads(
            DUPLICATES,
            lambda i, key=key: services.hold_reserve(
                actor=actor, account=available, amount="50.00", idempotency_key=key
            ),
        )
        txn = assert_one_answer(outcomes, key)
        assert {o.value.pk for o in outcomes} == {Hold.objects.get(reserve_transaction=txn).pk}
    assert (balance(account), balance(account, Purpose.CASH_RESERVED)) == (Decimal(0), Decimal("50.00") * ROUNDS)
    assert retries == []
    assert_verified()


def test_concurrent_duplicates_of_a_release_of_the_whole_hold_replay(retries):
    actor = system_actor()
    account = TradingAccountFactory(name="Duplicate releases")
    fund(actor, account, "50.00", "dup-release-fund")
    available = cash(account)
    for r in range(ROUNDS):
        hold = services.hold_reserve(actor=actor, account=available, amount="50.00", idempotency_key=f"dup-hold-{r}")
        # One instance per thread, as separate workers would load it.
        instances = [Hold.objects.select_related("reserved_account__asset").get(pk=hold.pk) for _ in range(DUPLICATES)]
        key = f"dup-release-{r}"
        outcomes = run_in_threads(
            DUPLICATES,
            lambda i, key=key, instances=instances: services.hold_release(
                actor=actor, hold=instances[i], amount="50.00", idempotency_key=key
            ),
        )
        assert_one_answer(outcomes, key)
        assert Hold.objects.get(pk=hold.pk).status == HoldStatus.RELEASED
    assert (balance(account), balance(account, Purpose.CASH_RESERVED)) == (Decimal("50.00"), Decimal(0))
    assert retries == []
    assert_verified()


def test_concurrent_duplicates_of_a_reversal_replay(retries):
    """The twins of a reversal must replay it, not report AlreadyReversed for their own first copy."""
    actor = system_actor()
    account = TradingAccountFactory(name="Duplicate reversals")
    for r in range(ROUNDS):
        original = services.cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount="10.00", idempotency_key=f"dup-reversed-{r}"
        )
        key = f"dup-reversal-{r}"
        outcomes = run_in_threads(
            DUPLICATES,
            lambda i, key=key, original=original: services.journal_transaction_reverse(
                actor=actor, transaction=original, idempotency_key=key
            ),
        )
        assert assert_one_answer(outcomes, key).reverses_id == original.pk
    assert balance(account) == Decimal(0)
    assert retries == []
    assert_verified()
