"""Property tests of the ledger: random sequences of deposits, withdrawals, transfers, holds,
releases, captures and reversals keep every invariant.

Each operation goes through the public services. A Python model (``World``) predicts the
outcome of every call: success with exact balances, or refusal with a specific error. A
refused call must change nothing (transactions, entries, balances, versions and holds are
compared before and after). After each example the whole ledger is checked in SQL and by
``verify_ledger``.

pytest-django's ``db`` fixture is function-scoped, so it is not reset between hypothesis
examples: every example opens its own trading accounts (a fresh tag in names and keys) and
the shared house accounts are compared against the balance they had when it started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.core.actors import system_actor
from apps.core.errors import ApplicationError
from apps.ledger import errors, services
from apps.ledger.legs import Leg
from apps.ledger.models import (
    Hold,
    HoldStatus,
    JournalTransaction,
    LedgerAccount,
    Purpose,
    TransactionKind,
)
from apps.ledger.selectors import asset_get
from apps.ledger.verification import verify
from tests.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
CLIENTS = 3


def cents(n: int) -> Decimal:
    return Decimal(n).scaleb(-2)


# --- the model ---------------------------------------------------------------------------


@dataclass
class ModelHold:
    hold: Hold  # the instance handed to the services (they keep it up to date)
    owner: int
    amount: Decimal
    remaining: Decimal
    captured: Decimal = Decimal(0)

    @property
    def active(self) -> bool:
        return self.remaining > 0

    @property
    def status(self) -> str:
        if self.remaining:
            return HoldStatus.ACTIVE
        if self.captured == self.amount:
            return HoldStatus.CAPTURED
        return HoldStatus.RELEASED if self.captured == 0 else HoldStatus.CLOSED


@dataclass
class ModelTxn:
    txn: JournalTransaction
    legs: dict[int, Decimal]
    reversed: bool = False


@dataclass
class Done:
    """A successful call, kept so that it can be retried with its idempotency key."""

    label: str
    repeat: Callable[[], Any]  # the same call: same key, same content
    conflict: Callable[[], Any]  # the same key with other content
    pk: int  # the transaction's (or the hold's) primary key


class World:
    """Fresh client accounts, the house accounts, and the balances they must have."""

    def __init__(self, actor: Any, clients: int = CLIENTS) -> None:
        self.actor = actor
        self.tag = uuid.uuid4().hex[:12]
        self.clients = [TradingAccountFactory(name=f"Property {self.tag} {i}") for i in range(clients)]
        self.available = [self._ledger(c.pk, Purpose.CASH_AVAILABLE) for c in self.clients]
        self.reserved = [self._ledger(c.pk, Purpose.CASH_RESERVED) for c in self.clients]
        self.fee_income = self._ledger(None, Purpose.FEE_INCOME)
        self.deposit_clearing = self._ledger(None, Purpose.DEPOSIT_CLEARING)
        self.withdrawal_clearing = self._ledger(None, Purpose.WITHDRAWAL_CLEARING)
        self.client_ids = {a.pk for a in (*self.available, *self.reserved)}
        ids = [*self.client_ids, self.fee_income.pk, self.deposit_clearing.pk, self.withdrawal_clearing.pk]
        # House accounts are shared between examples: start from what they hold now.
        self.expected: dict[int, Decimal] = dict(LedgerAccount.objects.filter(pk__in=ids).values_list("pk", "balance"))
        assert all(self.expected[pk] == 0 for pk in self.client_ids)
        self.holds: list[ModelHold] = []
        self.txns: list[ModelTxn] = []
        self.done: list[Done] = []
        self.calls = 0
        self.refusals = 0

    @staticmethod
    def _ledger(trading_account_id: int | None, purpose: str) -> LedgerAccount:
        return services.ledger_account_get_or_create(
            trading_account_id=trading_account_id, purpose=purpose, asset=asset_get("USD")
        )

    def key(self, label: str) -> str:
        self.calls += 1
        return f"{self.tag}-{label}-{self.calls}"

    def available_balance(self, i: int) -> Decimal:
        return self.expected[self.available[i].pk]

    # --- bookkeeping ----------------------------------------------------------------------

    def snapshot(self) -> tuple[object, ...]:
        """Everything a call could change, exactly (numbers as text), in one query."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT (SELECT count(*) FROM ledger_journaltransaction),
                       (SELECT count(*) FROM ledger_journalentry),
                       (SELECT string_agg(concat_ws(':', id, balance, version), ',' ORDER BY id)
                          FROM ledger_ledgeraccount WHERE id = ANY(%s)),
                       (SELECT string_agg(concat_ws(':', id, remaining, captured, status, updated_at), ',' ORDER BY id)
                          FROM ledger_hold WHERE reserved_account_id = ANY(%s))
                """,
                [list(self.expected), [a.pk for a in self.reserved]],
            )
            return cursor.fetchone()

    @contextmanager
    def refused(self, error: type[ApplicationError]) -> Iterator[None]:
        """The body must raise exactly ``error`` and leave the ledger untouched."""
        before = self.snapshot()
        with pytest.raises(ApplicationError) as caught:
            yield
        assert type(caught.value) is error, f"expected {error.__name__}, got {caught.value!r}"
        assert self.snapshot() == before, "a refused operation changed the ledger"
        self.refusals += 1

    def _posted(
        self, txn: JournalTransaction, kind: str, legs: dict[int, Decimal], *, reversible: bool
    ) -> ModelTxn | None:
        assert not txn.replayed
        assert txn.kind == kind
        entries = dict(txn.entries.values_list("ledger_account_id", "amount"))
        assert entries == legs
        for account_id, amount in legs.items():
            self.expected[account_id] += amount
        if not reversible:
            return None
        model = ModelTxn(txn, legs)
        self.txns.append(model)
        return model

    # --- operations (each predicts its outcome) --------------------------------------------

    def deposit(self, i: int, amount: Decimal) -> None:
        key = self.key("deposit")

        def call(value: Decimal = amount) -> JournalTransaction:
            return services.cash_deposit(
                actor=self.actor, trading_account=self.clients[i], currency="USD", amount=value, idempotency_key=key
            )

        txn = call()
        legs = {self.available[i].pk: amount, self.deposit_clearing.pk: -amount}
        self._posted(txn, TransactionKind.DEPOSIT, legs, reversible=True)
        self.done.append(Done("deposit", call, lambda: call(amount + CENT), txn.pk))

    def withdraw(self, i: int, amount: Decimal) -> None:
        key = self.key("withdraw")

        def call(value: Decimal = amount) -> JournalTransaction:
            return services.cash_withdraw(
                actor=self.actor, trading_account=self.clients[i], currency="USD", amount=value, idempotency_key=key
            )

        if self.available_balance(i) < amount:
            with self.refused(errors.InsufficientFunds):
                call()
            return
        txn = call()
        legs = {self.available[i].pk: -amount, self.withdrawal_clearing.pk: amount}
        self._posted(txn, TransactionKind.WITHDRAWAL, legs, reversible=True)
        self.done.append(Done("withdraw", call, lambda: call(amount + CENT), txn.pk))

    def transfer(self, i: int, j: int, amount: Decimal) -> None:
        assert i != j
        key = self.key("transfer")
        source, destination = self.available[i], self.available[j]

        def call(value: Decimal = amount) -> JournalTransaction:
            return services.journal_transaction_post(
                actor=self.actor,
                kind=TransactionKind.TRANSFER,
                legs=[Leg(source.pk, -value), Leg(destination.pk, value)],
                idempotency_key=key,
            )

        if self.available_balance(i) < amount:
            with self.refused(errors.InsufficientFunds):
                call()
            return
        txn = call()
        self._posted(txn, TransactionKind.TRANSFER, {source.pk: -amount, destination.pk: amount}, reversible=True)
        self.done.append(Done("transfer", call, lambda: call(amount + CENT), txn.pk))

    def hold(self, i: int, amount: Decimal) -> None:
        key = self.key("hold")

        def call(value: Decimal = amount) -> Hold:
            return services.hold_reserve(actor=self.actor, account=self.available[i], amount=value, idempotency_key=key)

        if self.available_balance(i) < amount:
            with self.refused(errors.InsufficientFunds):
                call()
            return
        hold = call()
        assert (hold.amount, hold.remaining, hold.captured, hold.status) == (amount, amount, 0, HoldStatus.ACTIVE)
        assert (hold.available_account_id, hold.reserved_account_id) == (self.available[i].pk, self.reserved[i].pk)
        legs = {self.available[i].pk: -amount, self.reserved[i].pk: amount}
        self._posted(hold.reserve_transaction, TransactionKind.HOLD, legs, reversible=False)
        self.holds.append(ModelHold(hold, i, amount, amount))
        self.done.append(Done("hold", call, lambda: call(amount + CENT), hold.pk))

    def settle(self, model: ModelHold, amount: Decimal | None, destination: LedgerAccount | None) -> None:
        """Release (``destination`` None) or capture ``amount`` (None: all that remains) of a hold."""
        label = "release" if destination is None else "capture"
        key = self.key(label)

        def call(value: Decimal | None = amount) -> JournalTransaction:
            # model.hold is read at call time: a retry may hand in a fresh instance.
            if destination is None:
                return services.hold_release(actor=self.actor, hold=model.hold, amount=value, idempotency_key=key)
            return services.hold_capture(
                actor=self.actor, hold=model.hold, destination=destination, amount=value, idempotency_key=key
            )

        if not model.active:
            with self.refused(errors.HoldNotActive):
                call()
            return
        value = model.remaining if amount is None else amount
        if value > model.remaining:
            with self.refused(errors.HoldExceeded):
                call()
            return
        txn = call()
        target = self.available[model.owner] if destination is None else destination
        legs = {self.reserved[model.owner].pk: -value, target.pk: value}
        kind = TransactionKind.RELEASE if destination is None else TransactionKind.CAPTURE
        self._posted(txn, kind, legs, reversible=False)
        assert txn.hold_id == model.hold.pk
        model.remaining -= value
        if destination is not None:
            model.captured += value
        self.done.append(Done(label, call, lambda: call(value + CENT), txn.pk))

    def reverse(self, model: ModelTxn) -> None:
        key = self.key("reverse")

        def call() -> JournalTransaction:
            return services.journal_transaction_reverse(actor=self.actor, transaction=model.txn, idempotency_key=key)

        def conflict() -> JournalTransaction:
            return services.journal_transaction_post(
                actor=self.actor,
                kind=TransactionKind.TRANSFER,
                legs=[Leg(self.available[0].pk, -CENT), Leg(self.available[1].pk, CENT)],
                idempotency_key=key,
            )

        if model.reversed:
            with self.refused(errors.AlreadyReversed):
                call()
            return
        legs = {account_id: -amount for account_id, amount in model.legs.items()}
        if any(pk in self.client_ids and self.expected[pk] + amount < 0 for pk, amount in legs.items()):
            with self.refused(errors.InsufficientFunds):
                call()
            return
        txn = call()
        self._posted(txn, TransactionKind.REVERSAL, legs, reversible=False)
        assert txn.reverses_id == model.txn.pk
        model.reversed = True
        self.done.append(Done("reverse", call, conflict, txn.pk))

    def not_reversible(self, txn: JournalTransaction) -> None:
        with self.refused(errors.NotReversible):
            services.journal_transaction_reverse(actor=self.actor, transaction=txn, idempotency_key=self.key("nr"))

    # --- retries ---------------------------------------------------------------------------

    def retry(self, done: Done) -> None:
        """The same call with the same key answers the first result and changes nothing."""
        before = self.snapshot()
        result = done.repeat()
        assert result.pk == done.pk, f"retried {done.label} answered another object"
        if isinstance(result, JournalTransaction):
            assert result.replayed, f"retried {done.label} was not flagged as replayed"
        assert self.snapshot() == before, f"retried {done.label} changed the ledger"

    def retry_conflicting(self, done: Done) -> None:
        with self.refused(errors.IdempotencyConflict):
            done.conflict()

    # --- checks -----------------------------------------------------------------------------

    def check_model(self) -> None:
        """Stored balances and holds are exactly what the model predicts."""
        stored = dict(LedgerAccount.objects.filter(pk__in=list(self.expected)).values_list("pk", "balance"))
        assert stored == self.expected
        holds = {
            pk: (remaining, captured, status)
            for pk, remaining, captured, status in Hold.objects.filter(
                pk__in=[m.hold.pk for m in self.holds]
            ).values_list("pk", "remaining", "captured", "status")
        }
        assert holds == {m.hold.pk: (m.remaining, m.captured, m.status) for m in self.holds}
        for i in range(len(self.clients)):
            held = sum((m.remaining for m in self.holds if m.owner == i), Decimal(0))
            assert self.expected[self.reserved[i].pk] == held
            assert self.expected[self.available[i].pk] >= 0


def assert_ledger_invariants() -> None:
    """The whole ledger, in SQL and by verify_ledger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id, asset_id, sum(amount) FROM ledger_journalentry "
            "GROUP BY transaction_id, asset_id HAVING sum(amount) <> 0"
        )
        assert cursor.fetchall() == [], "a transaction does not sum to zero per asset"
        cursor.execute(
            "SELECT a.id, a.balance, coalesce(sum(e.amount), 0) FROM ledger_ledgeraccount a "
            "LEFT JOIN ledger_journalentry e ON e.ledger_account_id = a.id "
            "GROUP BY a.id HAVING a.balance <> coalesce(sum(e.amount), 0)"
        )
        assert cursor.fetchall() == [], "a stored balance differs from the sum of its entries"
        cursor.execute(
            "SELECT id, purpose, balance FROM ledger_ledgeraccount WHERE trading_account_id IS NOT NULL AND balance < 0"
        )
        assert cursor.fetchall() == [], "a client ledger account is negative"
        cursor.execute(
            "SELECT asset_id, sum(balance) FROM ledger_ledgeraccount GROUP BY asset_id HAVING sum(balance) <> 0"
        )
        assert cursor.fetchall() == [], "value was created or destroyed"
    report = verify()
    assert report.ok, report.problems


# --- strategies --------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=50_000).map(cents)  # 0.01 .. 500.00
small_amounts = st.integers(min_value=1, max_value=10_000).map(cents)
# What to spend: a percentage (an int) of what there is, so that most calls can succeed and
# some exceed it, or an absolute amount (a Decimal).
percent = st.integers(min_value=1, max_value=110)
spend = st.one_of(percent, percent, percent, amounts)
settle_spec = st.one_of(st.none(), percent, percent, small_amounts)


def amount_of(spec: int | Decimal, base: Decimal) -> Decimal:
    if isinstance(spec, Decimal):
        return spec
    return max(CENT, (base * spec / 100).quantize(CENT, rounding=ROUND_DOWN))


client = st.integers(min_value=0, max_value=CLIENTS - 1)
pick = st.integers(min_value=0, max_value=10**6)  # an earlier hold or transaction, modulo how many

operation = st.one_of(
    st.tuples(st.just("deposit"), client, amounts),
    st.tuples(st.just("withdraw"), client, spend),
    st.tuples(st.just("transfer"), client, st.integers(1, CLIENTS - 1), spend),
    st.tuples(st.just("hold"), client, spend),
    st.tuples(st.just("release"), pick, settle_spec),
    st.tuples(st.just("capture"), pick, st.integers(0, CLIENTS - 1), settle_spec),
    st.tuples(st.just("reverse"), pick),
)


def apply(world: World, op: tuple[Any, ...]) -> None:
    name, *args = op
    if name == "deposit":
        world.deposit(*args)
    elif name == "withdraw":
        i, spec = args
        world.withdraw(i, amount_of(spec, world.available_balance(i)))
    elif name == "transfer":
        i, step, spec = args
        world.transfer(i, (i + step) % CLIENTS, amount_of(spec, world.available_balance(i)))
    elif name == "hold":
        i, spec = args
        world.hold(i, amount_of(spec, world.available_balance(i)))
    elif name in {"release", "capture"} and world.holds:
        model = world.holds[args[0] % len(world.holds)]
        spec = args[-1]
        amount = None if spec is None else amount_of(spec, model.remaining)
        if name == "release":
            world.settle(model, amount, None)
        else:
            # 0: the house's fee income; 1, 2: another client's available cash.
            destination = world.fee_income if args[1] == 0 else world.available[(model.owner + args[1]) % CLIENTS]
            world.settle(model, amount, destination)
    elif name == "reverse" and world.txns:
        world.reverse(world.txns[args[0] % len(world.txns)])


PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_operation_sequences_keep_every_invariant(db, ops):
    world = World(system_actor())
    for op in ops:
        apply(world, op)
        world.check_model()
    assert_ledger_invariants()


@PROPERTY_SETTINGS
@given(
    deposits=st.lists(amounts, min_size=1, max_size=3),
    moves=st.lists(st.tuples(client, st.integers(1, CLIENTS - 1), spend), min_size=1, max_size=20),
)
def test_transfers_between_clients_conserve_client_cash(db, deposits, moves):
    """Transfers only move cash between clients: their total is what was deposited, and each
    account ends exactly where the successful transfers put it."""
    world = World(system_actor())
    for n, amount in enumerate(deposits):
        world.deposit(n % CLIENTS, amount)
    for i, step, spec in moves:
        world.transfer(i, (i + step) % CLIENTS, amount_of(spec, world.available_balance(i)))
    world.check_model()
    total = sum(LedgerAccount.objects.filter(pk__in=[a.pk for a in world.available]).values_list("balance", flat=True))
    assert total == sum(deposits)
    assert_ledger_invariants()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure here is plain without shrinking
)
@given(
    amount=st.integers(min_value=2, max_value=100_000).map(cents),
    partial=st.none() | st.integers(min_value=1, max_value=99),
    capture=st.booleans(),
    fresh_instance=st.booleans(),
)
def test_settling_all_that_remains_is_idempotent_on_retry(db, amount, partial, capture, fresh_instance):
    """A release or capture of "all that remains" (no amount) retried with the same key must
    answer the first transaction, whether the caller retries with the same Hold instance or
    one re-read from the database (a task redelivered after a crash)."""
    world = World(system_actor())
    world.deposit(0, amount)
    world.hold(0, amount)
    model = world.holds[0]
    if partial is not None:
        world.settle(model, amount_of(partial, amount), None)
    destination = world.fee_income if capture else None
    world.settle(model, None, destination)
    assert not model.active
    first = world.done[-1]
    if fresh_instance:
        model.hold = Hold.objects.select_related("reserved_account__asset").get(pk=model.hold.pk)
    world.retry(first)
    world.check_model()
    assert_ledger_invariants()


@pytest.mark.parametrize("whose", ["own", "another client's"])
def test_capture_into_a_reserved_account_is_refused(actor, whose):
    """A capture moves value out of the reserved account to its destination. Into a reserved
    account it would leave a reserved balance that no active hold explains (``verify_ledger``
    reports it): the service refuses it and writes nothing."""
    world = World(actor)
    world.deposit(0, Decimal("100.00"))
    world.hold(0, Decimal("40.00"))
    model = world.holds[0]
    destination = world.reserved[0] if whose == "own" else world.reserved[1]
    with world.refused(errors.InvalidLegs):
        services.hold_capture(
            actor=actor, hold=model.hold, destination=destination, amount="10.00", idempotency_key=world.key("cap")
        )
    world.check_model()
    assert_ledger_invariants()


@pytest.mark.parametrize("direction", ["into", "out of"])
def test_generic_posting_cannot_move_value_into_or_out_of_a_reserved_account(actor, direction):
    """Only the hold services write reserved accounts: a transfer leg on one would break
    "reserved balance == sum of active holds", which ``verify_ledger`` enforces."""
    world = World(actor)
    world.deposit(0, Decimal("100.00"))
    world.deposit(1, Decimal("50.00"))
    world.hold(1, Decimal("20.00"))
    available, reserved = world.available[0].pk, world.reserved[1].pk
    legs = (
        [Leg(available, Decimal("-10.00")), Leg(reserved, Decimal("10.00"))]
        if direction == "into"
        else [Leg(reserved, Decimal("-10.00")), Leg(available, Decimal("10.00"))]
    )
    with world.refused(errors.InvalidLegs):
        services.journal_transaction_post(
            actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key=world.key("reserved-leg")
        )
    world.check_model()
    assert_ledger_invariants()
