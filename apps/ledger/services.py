"""Ledger write services. Each public service is one durable transaction, retried on
deadlock or serialization failure, idempotent by its key, and takes the acting user."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from apps.core.db import atomic_with_retry
from apps.core.decimals import check_scale, to_decimal
from apps.ledger import errors, locks, operations
from apps.ledger.accounts import ledger_account_get_or_create, ledger_accounts_for, ledger_accounts_resolve
from apps.ledger.legs import Leg, check_idempotency_key, fingerprint, normalize_legs
from apps.ledger.models import (
    NOT_REVERSIBLE_KINDS,
    RESERVED_FOR,
    RESERVED_PURPOSES,
    Asset,
    AssetKind,
    Hold,
    HoldStatus,
    JournalTransaction,
    LedgerAccount,
    Purpose,
    TransactionKind,
)
from apps.ledger.posting import find_replay, post_locked
from apps.ledger.selectors import asset_get

if TYPE_CHECKING:
    from apps.accounts.models import TradingAccount
    from apps.users.models import User

T = TypeVar("T")


# --- assets ------------------------------------------------------------------------------


def asset_create(*, actor: User, code: str, kind: str, scale: int, name: str = "") -> Asset:
    """Create an asset (currency or instrument units). Idempotent on the code."""
    if kind not in AssetKind.values:
        raise errors.UnknownAsset(f"Unknown asset kind {kind!r}.")
    if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 8:
        raise errors.InvalidAmount("An asset's scale must be an integer from 0 to 8.")
    if kind == AssetKind.CURRENCY and not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        raise errors.UnknownAsset(f"{code!r} is not an ISO 4217 currency code.")
    asset, _ = Asset.objects.get_or_create(code=code, defaults={"kind": kind, "scale": scale, "name": name})
    if asset.kind != kind or asset.scale != scale:
        raise errors.IdempotencyConflict(f"Asset {code} already exists as {asset.kind} with scale {asset.scale}.")
    return asset


# --- generic posting ---------------------------------------------------------------------


def journal_transaction_post(
    *,
    actor: User,
    kind: str,
    legs: Iterable[Leg | tuple[Any, Any]],
    idempotency_key: str,
    memo: str = "",
    reference: str = "",
) -> JournalTransaction:
    """Post a balanced transaction from legs. The same key with the same legs returns the
    first transaction (``replayed`` is True); with other legs raises ``idempotency_conflict``."""
    if kind not in TransactionKind.values or kind == TransactionKind.REVERSAL:
        raise errors.InvalidLegs(f"{kind!r} is not a kind that can be posted directly.")
    normalized = normalize_legs(legs)
    key = check_idempotency_key(idempotency_key)
    fp = fingerprint(kind, normalized)

    @atomic_with_retry()
    def attempt() -> JournalTransaction:
        accounts = locks.lock_ledger_accounts(leg.account_id for leg in normalized)
        return post_locked(
            accounts=accounts,
            legs=normalized,
            kind=kind,
            idempotency_key=key,
            fingerprint=fp,
            actor_id=actor.pk,
            memo=memo,
            reference=reference,
        )

    return attempt()


def journal_transaction_reverse(
    *, actor: User, transaction: JournalTransaction, idempotency_key: str | None = None, memo: str = ""
) -> JournalTransaction:
    """Post the exact opposite of ``transaction``. A transaction is reversed at most once;
    holds are corrected by releasing them, not by reversal."""
    if transaction.kind in NOT_REVERSIBLE_KINDS:
        raise errors.NotReversible(f"A {transaction.kind} transaction cannot be reversed.")
    key = check_idempotency_key(idempotency_key or f"reversal:{transaction.pk}")
    legs = [Leg(e.ledger_account_id, -e.amount) for e in transaction.entries.all()]
    fp = fingerprint(TransactionKind.REVERSAL, legs, reverses_id=transaction.pk)

    @atomic_with_retry()
    def attempt() -> JournalTransaction:
        accounts = locks.lock_ledger_accounts(leg.account_id for leg in legs)
        replay = find_replay(key, fp)
        if replay is not None:
            return replay
        if JournalTransaction.objects.filter(reverses=transaction).exists():
            raise errors.AlreadyReversed(f"Transaction {transaction.pk} has already been reversed.")
        return post_locked(
            accounts=accounts,
            legs=legs,
            kind=TransactionKind.REVERSAL,
            idempotency_key=key,
            fingerprint=fp,
            actor_id=actor.pk,
            memo=memo or f"Reversal of transaction {transaction.pk}",
            reference=transaction.reference,
            reverses_id=transaction.pk,
        )

    return attempt()


# --- cash in and out ---------------------------------------------------------------------


def _positive(amount: Any, scale: int) -> Decimal:
    value = check_scale(to_decimal(amount), scale=scale)
    if value <= 0:
        raise errors.InvalidAmount(f"The amount must be positive, got {value:f}.")
    return value


def _cash_movement(
    *,
    actor: User,
    trading_account: TradingAccount,
    currency: str,
    amount: Any,
    idempotency_key: str,
    memo: str,
    kind: str,
    house_purpose: str,
) -> JournalTransaction:
    from apps.accounts.models import AccountStatus

    asset = asset_get(currency)
    if asset.kind != AssetKind.CURRENCY:
        raise errors.UnknownAsset(f"{currency!r} is not a currency.")
    value = _positive(amount, asset.scale)
    key = check_idempotency_key(idempotency_key)
    if trading_account.status == AccountStatus.CLOSED:
        raise errors.AccountNotOpen(f"Account {trading_account.number} is closed.")
    client = ledger_account_get_or_create(
        trading_account_id=trading_account.pk, purpose=Purpose.CASH_AVAILABLE, asset=asset
    )
    house = ledger_account_get_or_create(trading_account_id=None, purpose=house_purpose, asset=asset)
    sign = 1 if kind == TransactionKind.DEPOSIT else -1
    legs = [Leg(client.pk, sign * value), Leg(house.pk, -sign * value)]
    return journal_transaction_post(actor=actor, kind=kind, legs=legs, idempotency_key=key, memo=memo)


def cash_deposit(
    *, actor: User, trading_account: TradingAccount, currency: str, amount: Any, idempotency_key: str, memo: str = ""
) -> JournalTransaction:
    """Credit the account's available cash from deposit clearing."""
    return _cash_movement(
        actor=actor,
        trading_account=trading_account,
        currency=currency,
        amount=amount,
        idempotency_key=idempotency_key,
        memo=memo,
        kind=TransactionKind.DEPOSIT,
        house_purpose=Purpose.DEPOSIT_CLEARING,
    )


def cash_withdraw(
    *, actor: User, trading_account: TradingAccount, currency: str, amount: Any, idempotency_key: str, memo: str = ""
) -> JournalTransaction:
    """Debit the account's available cash to withdrawal clearing; never overdraws (holds count)."""
    return _cash_movement(
        actor=actor,
        trading_account=trading_account,
        currency=currency,
        amount=amount,
        idempotency_key=idempotency_key,
        memo=memo,
        kind=TransactionKind.WITHDRAWAL,
        house_purpose=Purpose.WITHDRAWAL_CLEARING,
    )


# --- holds -------------------------------------------------------------------------------


def hold_reserve(
    *, actor: User, account: LedgerAccount, amount: Any, idempotency_key: str, reference: str = "", memo: str = ""
) -> Hold:
    """Move ``amount`` from an available account to its reserved sibling. The hold counts
    against the available balance at once; it fails with ``insufficient_funds`` otherwise."""
    reserved_purpose = RESERVED_FOR.get(account.purpose)  # type: ignore[call-overload]
    if reserved_purpose is None or account.trading_account_id is None:
        raise errors.InvalidLegs(f"Holds are placed on a client's available account, not {account.purpose}.")
    value = _positive(amount, account.asset.scale)
    key = check_idempotency_key(idempotency_key)
    reserved = ledger_account_get_or_create(
        trading_account_id=account.trading_account_id, purpose=reserved_purpose, asset=account.asset
    )

    @atomic_with_retry()
    def attempt() -> Hold:
        accounts = locks.lock_ledger_accounts([account.pk, reserved.pk])
        return operations.hold_reserve_locked(
            accounts=accounts,
            available_id=account.pk,
            reserved_id=reserved.pk,
            amount=value,
            idempotency_key=key,
            actor_id=actor.pk,
            reference=reference,
            memo=memo,
        )

    return attempt()


def _hold_settle(
    *,
    actor: User,
    hold: Hold,
    amount: Any,
    idempotency_key: str,
    kind: str,
    destination_id: int,
    memo: str,
) -> JournalTransaction:
    asset = hold.reserved_account.asset
    asked = None if amount is None else _positive(amount, asset.scale)
    key = check_idempotency_key(idempotency_key)
    # "All that remains" is resolved under the hold's lock; a retry of it is recognised by intent.
    fp = (
        fingerprint(kind, [], hold_id=hold.pk, extra=f"rest->{destination_id}")
        if asked is None
        else fingerprint(kind, [Leg(hold.reserved_account_id, -asked), Leg(destination_id, asked)], hold_id=hold.pk)
    )

    @atomic_with_retry()
    def attempt() -> JournalTransaction:
        accounts = locks.lock_ledger_accounts([hold.reserved_account_id, destination_id])
        locked = locks.lock_hold(hold.pk)
        replay = find_replay(key, fp)
        if replay is not None:
            return replay
        assert locked is not None
        value = locked.remaining if asked is None else asked
        if locked.status == HoldStatus.ACTIVE and value > locked.remaining:
            raise errors.HoldExceeded(f"Hold {locked.pk} has {locked.remaining:f} remaining; {value:f} was asked.")
        txn = operations.hold_settle_locked(
            accounts=accounts,
            hold=locked,
            amount=value,
            other_legs=[Leg(destination_id, value)],
            kind=kind,
            idempotency_key=key,
            fingerprint_value=fp,
            actor_id=actor.pk,
            memo=memo,
        )
        hold.remaining, hold.captured, hold.status = locked.remaining, locked.captured, locked.status
        return txn

    return attempt()


def hold_release(
    *, actor: User, hold: Hold, idempotency_key: str, amount: Any = None, memo: str = ""
) -> JournalTransaction:
    """Return ``amount`` (default: all that remains) of a hold to the available account."""
    return _hold_settle(
        actor=actor,
        hold=hold,
        amount=amount,
        idempotency_key=idempotency_key,
        kind=TransactionKind.RELEASE,
        destination_id=hold.available_account_id,
        memo=memo,
    )


def hold_capture(
    *, actor: User, hold: Hold, destination: LedgerAccount, idempotency_key: str, amount: Any = None, memo: str = ""
) -> JournalTransaction:
    """Move ``amount`` (default: all that remains) of a hold from reserved to ``destination``."""
    if destination.purpose in RESERVED_PURPOSES:
        raise errors.InvalidLegs("A hold is captured into a spending or house account, not a reserved account.")
    if destination.asset_id != hold.reserved_account.asset_id:
        raise errors.AssetMismatch(
            f"The destination holds {destination.asset.code}; the hold is in {hold.reserved_account.asset.code}."
        )
    return _hold_settle(
        actor=actor,
        hold=hold,
        amount=amount,
        idempotency_key=idempotency_key,
        kind=TransactionKind.CAPTURE,
        destination_id=destination.pk,
        memo=memo,
    )


def ledger_accounts_open(*, trading_account: TradingAccount, currencies: Sequence[str]) -> list[LedgerAccount]:
    """Open the cash accounts (available and reserved) of a trading account in each currency."""
    result = []
    for code in currencies:
        asset = asset_get(code)
        for purpose in (Purpose.CASH_AVAILABLE, Purpose.CASH_RESERVED):
            result.append(
                ledger_account_get_or_create(trading_account_id=trading_account.pk, purpose=purpose, asset=asset)
            )
    return result


__all__ = [
    "asset_create",
    "cash_deposit",
    "cash_withdraw",
    "hold_capture",
    "hold_release",
    "hold_reserve",
    "journal_transaction_post",
    "journal_transaction_reverse",
    "ledger_account_get_or_create",
    "ledger_accounts_for",
    "ledger_accounts_open",
    "ledger_accounts_resolve",
]
