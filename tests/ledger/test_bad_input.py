"""Every bad input gets a clear domain error with a stable code, and nothing is written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.ledger import services
from apps.ledger.models import Hold, JournalEntry, JournalTransaction, LedgerAccount, TransactionKind
from tests.conftest import cash

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        JournalTransaction.objects.count(),
        JournalEntry.objects.count(),
        Hold.objects.count(),
        sorted(LedgerAccount.objects.values_list("id", "balance", "version")),
    )


BAD_AMOUNTS = [
    ("0", "invalid_amount"),
    ("-5", "invalid_amount"),
    ("NaN", "invalid_amount"),
    ("sNaN", "invalid_amount"),
    ("Infinity", "invalid_amount"),
    ("-Infinity", "invalid_amount"),
    ("1.001", "invalid_amount"),  # USD has two decimal places
    ("1e30", "invalid_amount"),  # more integer digits than the column holds
    ("12345678901234567890123", "invalid_amount"),
    ("abc", "invalid_amount"),
    ("", "invalid_amount"),
    (1.5, "invalid_amount"),  # floats are refused outright
    (True, "invalid_amount"),
    (None, "invalid_amount"),
    (Decimal("NaN"), "invalid_amount"),
]


@pytest.mark.parametrize(("amount", "code"), BAD_AMOUNTS)
def test_bad_deposit_amounts(funded, actor, amount, code):
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount=amount, idempotency_key="k")
    assert info.value.code == code
    assert info.value.detail
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "code"), BAD_AMOUNTS)
def test_bad_hold_amounts(funded, actor, amount, code):
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.hold_reserve(actor=actor, account=cash(funded), amount=amount, idempotency_key="k")
    assert info.value.code == code
    assert snapshot() == before


@pytest.mark.parametrize(
    ("currency", "code"),
    [("XYZ", "unknown_asset"), ("usd", "unknown_asset"), ("", "unknown_asset"), (None, "unknown_asset")],
)
def test_unknown_currency(funded, actor, currency, code):
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.cash_deposit(actor=actor, trading_account=funded, currency=currency, amount="1", idempotency_key="k")
    assert info.value.code == code
    assert snapshot() == before


@pytest.mark.parametrize("key", ["", "   ", "x" * 129, None, 42, "bad\nkey"])
def test_bad_idempotency_keys(funded, actor, key):
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key=key)
    assert info.value.code == "invalid_idempotency_key"
    assert snapshot() == before


def test_bad_legs(funded, make_account, actor):
    other = make_account()
    a, b = cash(funded), cash(other)
    eur_account = services.ledger_account_get_or_create(
        trading_account_id=other.pk, purpose="cash_available", asset=services.asset_get("EUR")
    )
    cases = [
        ([], "invalid_legs"),
        ([(a, "-1")], "invalid_legs"),
        ([(a, "-1"), (a, "1")], "invalid_legs"),  # the same account twice
        ([(a, "-1"), (b, "0")], "invalid_amount"),
        ([(a, "-1"), (b, "2")], "unbalanced"),
        ([(a, "-1"), (eur_account, "1")], "unbalanced"),  # a USD leg against an EUR account: per-asset sums
        ([(a, "-1.001"), (b, "1.001")], "invalid_amount"),  # finer than the asset's scale
        ([(a, "-1"), (999_999_999, "1")], "unknown_ledger_account"),
        ([("not-an-account", "-1"), (b, "1")], "invalid_legs"),
        ([(a, "-2000"), (b, "2000")], "insufficient_funds"),
        ([(a, 1.0), (b, -1.0)], "invalid_amount"),
    ]
    for legs, code in cases:
        before = snapshot()
        with pytest.raises(ApplicationError) as info:
            services.journal_transaction_post(
                actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key="k"
            )
        assert info.value.code == code, legs
        assert snapshot() == before


def test_unknown_kind_and_direct_reversal_refused(funded, make_account, actor):
    legs = [(cash(funded), "-1"), (cash(make_account()), "1")]
    for kind in ("nonsense", TransactionKind.REVERSAL):
        with pytest.raises(ApplicationError) as info:
            services.journal_transaction_post(actor=actor, kind=kind, legs=legs, idempotency_key="k")
        assert info.value.code == "invalid_legs"


def test_hold_on_a_house_or_reserved_account_is_refused(funded, actor):
    reserved = services.ledger_account_get_or_create(
        trading_account_id=funded.pk, purpose="cash_reserved", asset=services.asset_get("USD")
    )
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.hold_reserve(actor=actor, account=reserved, amount="1", idempotency_key="k")
    assert info.value.code == "invalid_legs"
    assert snapshot() == before


def test_capture_into_another_asset_is_refused(funded, actor):
    hold = services.hold_reserve(actor=actor, account=cash(funded), amount="1", idempotency_key="h")
    eur = services.ledger_account_get_or_create(
        trading_account_id=funded.pk, purpose="cash_available", asset=services.asset_get("EUR")
    )
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.hold_capture(actor=actor, hold=hold, destination=eur, idempotency_key="c")
    assert info.value.code == "asset_mismatch"
    assert snapshot() == before


def test_generic_postings_cannot_touch_reserved_accounts(funded, make_account, actor):
    """Reserved balances are the sum of active holds: only hold services move them."""
    reserved = services.ledger_account_get_or_create(
        trading_account_id=funded.pk, purpose="cash_reserved", asset=services.asset_get("USD")
    )
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        services.journal_transaction_post(
            actor=actor,
            kind=TransactionKind.TRANSFER,
            legs=[(cash(funded), "-5"), (reserved, "5")],
            idempotency_key="k",
        )
    assert info.value.code == "invalid_legs"
    assert snapshot() == before
