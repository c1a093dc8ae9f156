"""Ledger services: the behaviour a caller relies on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.ledger import errors, services
from apps.ledger.models import HoldStatus, JournalEntry, JournalSequence, JournalTransaction, Purpose, TransactionKind
from apps.ledger.selectors import balance_as_of, balance_list, statement_page
from apps.ledger.sequencing import sequence_assign
from apps.ledger.verification import verify
from tests.conftest import balance, cash

pytestmark = pytest.mark.django_db


def deposit(actor, account, amount, key, currency="USD"):
    return services.cash_deposit(
        actor=actor, trading_account=account, currency=currency, amount=amount, idempotency_key=key
    )


def test_deposit_credits_available_cash_and_is_idempotent(account, actor):
    first = deposit(actor, account, "250.25", "dep-1")
    again = deposit(actor, account, "250.25", "dep-1")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert balance(account) == Decimal("250.25")
    assert JournalTransaction.objects.count() == 1
    (usd,) = balance_list(trading_account_id=account.pk)
    assert (usd.asset, usd.available, usd.reserved, usd.total) == ("USD", Decimal("250.25"), 0, Decimal("250.25"))


def test_same_key_with_different_content_is_a_conflict_and_changes_nothing(funded, actor):
    with pytest.raises(errors.IdempotencyConflict) as info:
        deposit(actor, funded, "1.00", f"fund-{funded.pk}")
    assert info.value.code == "idempotency_conflict"
    assert balance(funded) == Decimal("1000.00")


def test_deposit_entries_balance_and_carry_version_and_running_balance(account, actor):
    txn = deposit(actor, account, "10.00", "d1")
    deposit(actor, account, "5.50", "d2")
    entries = list(JournalEntry.objects.filter(transaction=txn).order_by("amount"))
    assert [e.amount for e in entries] == [Decimal("-10.00"), Decimal("10.00")]
    assert sum(e.amount for e in entries) == 0
    page = statement_page(ledger_account_id=cash(account).pk)
    assert [(e.account_version, e.amount, e.balance_after) for e in page] == [
        (1, Decimal("10.00"), Decimal("10.00")),
        (2, Decimal("5.50"), Decimal("15.50")),
    ]
    assert cash(account).version == 2


def test_sequence_numbers_are_gap_free_even_after_refusals(funded, actor):
    with pytest.raises(errors.InsufficientFunds):
        services.cash_withdraw(
            actor=actor, trading_account=funded, currency="USD", amount="5000", idempotency_key="too-much"
        )
    deposit(actor, funded, "1", "after-refusal")
    assert sequence_assign() == 2
    numbered = list(JournalSequence.objects.order_by("sequence").values_list("sequence", "transaction_id"))
    ids = sorted(JournalTransaction.objects.values_list("id", flat=True))
    assert numbered == list(zip(range(1, len(ids) + 1), ids, strict=True))
    assert sequence_assign() == 0  # nothing numbered twice


def test_withdrawal_never_overdraws(funded, actor):
    services.cash_withdraw(actor=actor, trading_account=funded, currency="USD", amount="400", idempotency_key="w1")
    with pytest.raises(errors.InsufficientFunds) as info:
        services.cash_withdraw(
            actor=actor, trading_account=funded, currency="USD", amount="600.01", idempotency_key="w2"
        )
    assert info.value.status == 422
    assert balance(funded) == Decimal("600.00")
    assert not JournalTransaction.objects.filter(idempotency_key="w2").exists()


def test_transfer_between_accounts(funded, make_account, actor):
    other = make_account()
    txn = services.journal_transaction_post(
        actor=actor,
        kind=TransactionKind.TRANSFER,
        legs=[(cash(funded), "-125.00"), (cash(other), "125.00")],
        idempotency_key="t1",
        memo="rent",
    )
    assert txn.kind == "transfer" and txn.memo == "rent" and txn.actor == actor
    assert (balance(funded), balance(other)) == (Decimal("875.00"), Decimal("125.00"))


def test_holds_count_against_available_balance_at_once(account, actor):
    """Six holds of 1,000 on a 5,000 balance: exactly five succeed."""
    deposit(actor, account, "5000", "d")
    available = cash(account)
    placed, refused = 0, 0
    for i in range(6):
        try:
            services.hold_reserve(actor=actor, account=available, amount="1000", idempotency_key=f"h{i}")
            placed += 1
        except errors.InsufficientFunds:
            refused += 1
    assert (placed, refused) == (5, 1)
    assert balance(account) == 0
    assert balance(account, Purpose.CASH_RESERVED) == Decimal("5000")
    with pytest.raises(errors.InsufficientFunds):
        services.cash_withdraw(actor=actor, trading_account=account, currency="USD", amount="0.01", idempotency_key="w")


def test_hold_release_and_capture(funded, make_account, actor):
    other = make_account()
    hold = services.hold_reserve(actor=actor, account=cash(funded), amount="300", idempotency_key="h", reference="o-1")
    assert services.hold_reserve(actor=actor, account=cash(funded), amount="300", idempotency_key="h").pk == hold.pk
    services.hold_capture(actor=actor, hold=hold, destination=cash(other), amount="100", idempotency_key="c1")
    services.hold_release(actor=actor, hold=hold, amount="50", idempotency_key="r1")
    hold.refresh_from_db()
    assert (hold.remaining, hold.captured, hold.status) == (Decimal("150"), Decimal("100"), HoldStatus.ACTIVE)
    with pytest.raises(errors.HoldExceeded):
        services.hold_release(actor=actor, hold=hold, amount="150.01", idempotency_key="r2")
    services.hold_release(actor=actor, hold=hold, idempotency_key="r3")
    hold.refresh_from_db()
    assert (hold.remaining, hold.status) == (0, HoldStatus.CLOSED)
    with pytest.raises(errors.HoldNotActive):
        services.hold_release(actor=actor, hold=hold, amount="1", idempotency_key="r4")
    assert balance(funded) == Decimal("900")
    assert balance(funded, Purpose.CASH_RESERVED) == 0
    assert balance(other) == Decimal("100")
    assert set(hold.transactions.values_list("kind", flat=True)) == {"capture", "release"}
    assert verify().ok


def test_full_capture_marks_hold_captured(funded, make_account, actor):
    other = make_account()
    hold = services.hold_reserve(actor=actor, account=cash(funded), amount="10", idempotency_key="h")
    services.hold_capture(actor=actor, hold=hold, destination=cash(other), idempotency_key="c")
    hold.refresh_from_db()
    assert (hold.status, hold.captured, hold.remaining) == (HoldStatus.CAPTURED, Decimal("10"), 0)


def test_reversal_restores_balances_once(funded, actor):
    txn = services.cash_withdraw(actor=actor, trading_account=funded, currency="USD", amount="100", idempotency_key="w")
    reversal = services.journal_transaction_reverse(actor=actor, transaction=txn)
    assert reversal.reverses_id == txn.pk and reversal.kind == "reversal"
    assert balance(funded) == Decimal("1000.00")
    assert services.journal_transaction_reverse(actor=actor, transaction=txn).pk == reversal.pk  # idempotent retry
    with pytest.raises(errors.AlreadyReversed):
        services.journal_transaction_reverse(actor=actor, transaction=txn, idempotency_key="another-key")
    with pytest.raises(errors.NotReversible):
        services.journal_transaction_reverse(actor=actor, transaction=reversal)
    assert JournalTransaction.objects.filter(kind="reversal").count() == 1


def test_reversal_that_would_overdraw_is_refused(funded, actor):
    txn = JournalTransaction.objects.get(idempotency_key=f"fund-{funded.pk}")
    services.cash_withdraw(actor=actor, trading_account=funded, currency="USD", amount="999", idempotency_key="w")
    with pytest.raises(errors.InsufficientFunds):
        services.journal_transaction_reverse(actor=actor, transaction=txn)
    assert balance(funded) == Decimal("1.00")


def test_holds_cannot_be_reversed(funded, actor):
    hold = services.hold_reserve(actor=actor, account=cash(funded), amount="1", idempotency_key="h")
    with pytest.raises(errors.NotReversible):
        services.journal_transaction_reverse(actor=actor, transaction=hold.reserve_transaction)


def test_balance_as_of_a_past_instant(account, actor):
    first = deposit(actor, account, "10", "a")
    second = deposit(actor, account, "20", "b")
    ledger_account = cash(account).pk
    assert balance_as_of(ledger_account_id=ledger_account, at=first.posted_at - timedelta(microseconds=1)) == 0
    assert balance_as_of(ledger_account_id=ledger_account, at=first.posted_at) == Decimal("10")
    assert balance_as_of(ledger_account_id=ledger_account, at=second.posted_at) == Decimal("30")


def test_statement_keyset_pages(account, actor):
    for i in range(5):
        deposit(actor, account, "1", f"d{i}")
    ledger_account = cash(account).pk
    first = statement_page(ledger_account_id=ledger_account, limit=2)
    second = statement_page(ledger_account_id=ledger_account, after_version=first[-1].account_version, limit=2)
    last = statement_page(ledger_account_id=ledger_account, after_version=second[-1].account_version, limit=2)
    assert [e.account_version for e in first + second + last] == [1, 2, 3, 4, 5]
    assert [e.balance_after for e in last] == [Decimal("5")]


def test_posted_at_is_aware_utc_with_microseconds(account, actor):
    txn = deposit(actor, account, "1", "d")
    txn.refresh_from_db()
    assert txn.posted_at.utcoffset() == timedelta(0)
    assert JournalEntry.objects.filter(transaction=txn).first().posted_at == txn.posted_at


def test_closed_account_refuses_cash_movements(account, actor):
    from apps.accounts.services import trading_account_set_status

    trading_account_set_status(actor=actor, account=account, status="closed")
    account.refresh_from_db()
    with pytest.raises(errors.AccountNotOpen):
        deposit(actor, account, "1", "d")
