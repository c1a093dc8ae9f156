"""A hypothesis state machine over the ledger services.

Rules post deposits, withdrawals, transfers, holds, releases, captures and reversals (the
model in ``test_properties.World`` predicts success or the exact refusal), retry earlier
calls with their idempotency key (same content: the first result, ``replayed``, nothing
changes; other content: ``IdempotencyConflict``, nothing changes) and attempt operations
the rules must refuse (overdraw, settle more than remains, settle a closed hold, reverse
twice, reverse a hold), which must raise and change nothing.

After every step: value is conserved per asset, no client account is overdrawn once holds
are counted (available >= 0, reserved == what active holds still reserve), and every stored
balance is what the model says. After every run: ``verify_ledger`` is clean.
"""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.core.actors import system_actor
from apps.ledger.models import JournalTransaction, LedgerAccount, Purpose
from apps.ledger.verification import verify
from tests.ledger.test_properties import (
    CLIENTS,
    ModelHold,
    World,
    amount_of,
    amounts,
    settle_spec,
    small_amounts,
    spend,
)

pytestmark = pytest.mark.django_db

client = st.integers(min_value=0, max_value=CLIENTS - 1)
step = st.integers(min_value=1, max_value=CLIENTS - 1)
pick = st.integers(min_value=0, max_value=10**6)
# Where a hold is settled: -1 releases it; 0 captures it to the house's fee income; 1, 2
# capture it to another client's available cash.
settle_to = st.integers(min_value=-1, max_value=CLIENTS - 1)
REFUSALS = (
    "overdraw by withdrawal",
    "overdraw by transfer",
    "overdraw by hold",
    "settle more than remains",
    "settle a closed hold",
    "reverse twice",
    "reverse a hold, a settlement or a reversal",
)


def choose(items, n):
    return items[n % len(items)]


def has_active_hold(machine: LedgerMachine) -> bool:
    return any(m.active for m in machine.world.holds)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(system_actor())

    def active_holds(self) -> list[ModelHold]:
        return [m for m in self.world.holds if m.active]

    def destination(self, model: ModelHold, where: int) -> LedgerAccount | None:
        if where < 0:
            return None
        if where == 0:
            return self.world.fee_income
        return self.world.available[(model.owner + where) % CLIENTS]

    # --- operations (the model predicts success or the exact refusal) ------------------------

    @initialize(funds=st.lists(amounts, min_size=CLIENTS, max_size=CLIENTS))
    def fund_every_client(self, funds):
        for i, amount in enumerate(funds):
            self.world.deposit(i, amount)

    @rule(i=client, amount=amounts)
    def deposit(self, i, amount):
        self.world.deposit(i, amount)

    @rule(i=client, spec=spend)
    def withdraw(self, i, spec):
        self.world.withdraw(i, amount_of(spec, self.world.available_balance(i)))

    @rule(i=client, k=step, spec=spend)
    def transfer(self, i, k, spec):
        self.world.transfer(i, (i + k) % CLIENTS, amount_of(spec, self.world.available_balance(i)))

    @rule(i=client, spec=spend)
    def hold(self, i, spec):
        self.world.hold(i, amount_of(spec, self.world.available_balance(i)))

    @precondition(has_active_hold)
    @rule(n=pick, where=settle_to, spec=settle_spec)
    def settle(self, n, where, spec):
        model = choose(self.active_holds(), n)
        amount = None if spec is None else amount_of(spec, model.remaining)
        self.world.settle(model, amount, self.destination(model, where))

    @precondition(has_active_hold)
    @rule(n=pick, where=settle_to)
    def settle_all_that_remains_then_retry(self, n, where):
        """What a redelivered task does: settle the rest of a hold (no amount), then the same call again."""
        model = choose(self.active_holds(), n)
        self.world.settle(model, None, self.destination(model, where))
        self.world.retry(self.world.done[-1])

    @precondition(lambda self: any(not t.reversed for t in self.world.txns))
    @rule(n=pick)
    def reverse(self, n):
        self.world.reverse(choose([t for t in self.world.txns if not t.reversed], n))

    # --- retries with the same idempotency key -----------------------------------------------

    @precondition(lambda self: self.world.done)
    @rule(n=pick, same_content=st.booleans())
    def retry(self, n, same_content):
        """Same key, same content: the first result, flagged as a replay, nothing changes.
        Same key, other content: IdempotencyConflict, nothing changes."""
        done = choose(self.world.done, n)
        if same_content:
            self.world.retry(done)
        else:
            self.world.retry_conflicting(done)

    # --- operations the rules refuse (each must raise and change nothing) ---------------------

    @rule(what=st.sampled_from(REFUSALS), i=client, n=pick, excess=small_amounts, where=settle_to)
    def refused_operation(self, what, i, n, excess, where):
        world = self.world
        refusals = world.refusals
        closed = [m for m in world.holds if not m.active]
        reversed_txns = [t for t in world.txns if t.reversed]
        not_reversible = [m.hold.reserve_transaction for m in world.holds] + [
            JournalTransaction.objects.get(pk=d.pk) for d in world.done if d.label in {"release", "capture", "reverse"}
        ]
        if what == "settle more than remains" and has_active_hold(self):
            model = choose(self.active_holds(), n)
            world.settle(model, model.remaining + excess, self.destination(model, where))
        elif what == "settle a closed hold" and closed:
            model = choose(closed, n)
            world.settle(model, None if where < 0 else excess, self.destination(model, where))
        elif what == "reverse twice" and reversed_txns:
            world.reverse(choose(reversed_txns, n))
        elif what.startswith("reverse a hold") and not_reversible:
            world.not_reversible(choose(not_reversible, n))
        elif what == "overdraw by transfer":
            world.transfer(i, (i + 1) % CLIENTS, world.available_balance(i) + excess)
        elif what == "overdraw by hold":
            world.hold(i, world.available_balance(i) + excess)
        else:
            world.withdraw(i, world.available_balance(i) + excess)
        assert world.refusals == refusals + 1, f"{what} was not refused"

    # --- invariants, after every step ---------------------------------------------------------

    @invariant()
    def value_is_conserved_per_asset(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT asset_id, sum(balance) FROM ledger_ledgeraccount GROUP BY asset_id")
            totals = cursor.fetchall()
        assert totals, "no ledger accounts"
        assert all(total == 0 for _, total in totals), totals

    @invariant()
    def no_overdraft_counting_holds(self):
        """Available cash never negative; each reserved account holds exactly what its active holds keep."""
        world = self.world
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT a.id, a.purpose, a.balance,
                       (SELECT coalesce(sum(h.remaining), 0) FROM ledger_hold h
                         WHERE h.reserved_account_id = a.id AND h.status = 'active')
                  FROM ledger_ledgeraccount a WHERE a.id = ANY(%s)
                """,
                [[a.pk for a in (*world.available, *world.reserved)]],
            )
            rows = cursor.fetchall()
        assert len(rows) == 2 * CLIENTS
        for pk, purpose, balance, held in rows:
            assert balance >= 0, f"ledger account {pk} ({purpose}) is overdrawn: {balance}"
            if purpose == Purpose.CASH_RESERVED:
                assert balance == held, f"reserved account {pk} holds {balance}, its active holds keep {held}"

    @invariant()
    def stored_balances_match_the_model(self):
        self.world.check_model()

    def teardown(self):
        report = verify()
        assert report.ok, report.problems


def test_ledger_state_machine(db):
    # Shrinking is off: a failing run stays bounded (shrinking a 25-step ledger run can take
    # minutes) and the printed steps, at most 25, are the reproduction.
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert verify().ok  # and every step's invariants held (checked by the machine itself)
