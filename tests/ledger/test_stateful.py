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

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from apps.core.actors import system_actor
from apps.ledger.models import Hold, HoldStatus, LedgerAccount
from apps.ledger.verification import verify
from tests.ledger.test_properties import CLIENTS, ModelHold, World, amounts, small_amounts

pytestmark = pytest.mark.django_db

client = st.integers(min_value=0, max_value=CLIENTS - 1)
step = st.integers(min_value=1, max_value=CLIENTS - 1)
pick = st.integers(min_value=0, max_value=10**6)


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

    def capture_destination(self, model: ModelHold, which: int) -> LedgerAccount:
        """0: the house's fee income; otherwise another client's available cash."""
        if which == 0:
            return self.world.fee_income
        return self.world.available[(model.owner + which) % CLIENTS]

    # --- operations ------------------------------------------------------------------------

    @rule(i=client, amount=amounts)
    def deposit(self, i, amount):
        self.world.deposit(i, amount)

    @rule(i=client, amount=amounts)
    def withdraw(self, i, amount):
        self.world.withdraw(i, amount)

    @rule(i=client, k=step, amount=amounts)
    def transfer(self, i, k, amount):
        self.world.transfer(i, (i + k) % CLIENTS, amount)

    @rule(i=client, amount=amounts)
    def hold(self, i, amount):
        self.world.hold(i, amount)

    @precondition(has_active_hold)
    @rule(n=pick, amount=st.none() | small_amounts)
    def release(self, n, amount):
        self.world.settle(choose(self.active_holds(), n), amount, None)

    @precondition(has_active_hold)
    @rule(n=pick, which=st.integers(min_value=0, max_value=CLIENTS - 1), amount=st.none() | small_amounts)
    def capture(self, n, which, amount):
        model = choose(self.active_holds(), n)
        self.world.settle(model, amount, self.capture_destination(model, which))

    @precondition(lambda self: any(not t.reversed for t in self.world.txns))
    @rule(n=pick)
    def reverse(self, n):
        self.world.reverse(choose([t for t in self.world.txns if not t.reversed], n))

    # --- retries with the same idempotency key ---------------------------------------------

    @precondition(lambda self: self.world.done)
    @rule(n=pick)
    def retry_same_key_same_content(self, n):
        self.world.retry(choose(self.world.done, n))

    @precondition(lambda self: self.world.done)
    @rule(n=pick)
    def retry_same_key_other_content(self, n):
        self.world.retry_conflicting(choose(self.world.done, n))

    # --- operations the rules refuse ---------------------------------------------------------

    @rule(i=client, excess=small_amounts, how=st.sampled_from(["withdraw", "transfer", "hold"]))
    def overdraw(self, i, excess, how):
        amount = self.world.available_balance(i) + excess
        refusals = self.world.refusals
        if how == "withdraw":
            self.world.withdraw(i, amount)
        elif how == "transfer":
            self.world.transfer(i, (i + 1) % CLIENTS, amount)
        else:
            self.world.hold(i, amount)
        assert self.world.refusals == refusals + 1

    @precondition(has_active_hold)
    @rule(n=pick, excess=small_amounts, capture=st.booleans())
    def settle_more_than_remains(self, n, excess, capture):
        model = choose(self.active_holds(), n)
        refusals = self.world.refusals
        self.world.settle(model, model.remaining + excess, self.capture_destination(model, 0) if capture else None)
        assert self.world.refusals == refusals + 1

    @precondition(lambda self: any(not m.active for m in self.world.holds))
    @rule(n=pick, amount=st.none() | small_amounts)
    def settle_a_closed_hold(self, n, amount):
        refusals = self.world.refusals
        self.world.settle(choose([m for m in self.world.holds if not m.active], n), amount, None)
        assert self.world.refusals == refusals + 1

    @precondition(lambda self: any(t.reversed for t in self.world.txns))
    @rule(n=pick)
    def reverse_again(self, n):
        refusals = self.world.refusals
        self.world.reverse(choose([t for t in self.world.txns if t.reversed], n))
        assert self.world.refusals == refusals + 1

    @precondition(lambda self: self.world.holds)
    @rule(n=pick)
    def reverse_a_hold(self, n):
        self.world.not_reversible(choose(self.world.holds, n).hold.reserve_transaction)

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def value_is_conserved_per_asset(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT asset_id, sum(balance) FROM ledger_ledgeraccount GROUP BY asset_id")
            totals = cursor.fetchall()
        assert totals, "no ledger accounts"
        assert all(total == 0 for _, total in totals), totals

    @invariant()
    def no_overdraft_counting_holds(self):
        world = self.world
        available = LedgerAccount.objects.filter(pk__in=[a.pk for a in world.available]).values_list("balance", flat=True)
        assert all(balance >= 0 for balance in available)
        for reserved in world.reserved:
            stored = LedgerAccount.objects.get(pk=reserved.pk).balance
            held = sum(
                Hold.objects.filter(reserved_account=reserved, status=HoldStatus.ACTIVE).values_list("remaining", flat=True),
                Decimal(0),
            )
            assert stored == held, f"reserved {stored} but active holds keep {held}"

    @invariant()
    def stored_balances_match_the_model(self):
        self.world.check_model()

    def teardown(self):
        report = verify()
        assert report.ok, report.problems


def test_ledger_state_machine(db):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
