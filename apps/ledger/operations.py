"""Ledger operations for use INSIDE another app's transaction (orders placing a hold,
booking a fill), where the caller has already locked the ledger accounts (and the hold)
in the global order: ledger accounts by primary key, then holds.

The public services in ``services.py`` wrap these in their own durable transaction.
Nothing here opens a transaction, retries or looks locks up: it checks, posts and returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.db import transaction

from apps.ledger import errors, locks
from apps.ledger.legs import Leg, fingerprint
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Hold, HoldStatus, JournalTransaction, TransactionKind
from apps.ledger.posting import post_locked, postings_deferred


def in_transaction() -> None:
    """Refuse to run outside the caller's transaction (these operations never open one)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger operations must run inside the caller's transaction")


def hold_reserve_locked(
    *,
    accounts: Mapping[int, LockedAccount],
    available_id: int,
    reserved_id: int,
    amount: Decimal,
    idempotency_key: str,
    actor_id: int,
    reference: str = "",
    memo: str = "",
) -> Hold:
    """Reserve ``amount`` (already validated, positive) from ``available`` into ``reserved``."""
    in_transaction()
    legs = [Leg(available_id, -amount), Leg(reserved_id, amount)]
    fp = fingerprint(TransactionKind.HOLD, legs)
    txn = post_locked(
        accounts=accounts,
        legs=legs,
        kind=TransactionKind.HOLD,
        idempotency_key=idempotency_key,
        fingerprint=fp,
        actor_id=actor_id,
        memo=memo,
        reference=reference,
        reserved_account_id=reserved_id,
    )
    if txn.replayed:
        return Hold.objects.get(reserve_transaction=txn)
    return Hold.objects.create(
        available_account_id=available_id,
        reserved_account_id=reserved_id,
        amount=amount,
        remaining=amount,
        reference=reference,
        reserve_transaction=txn,
        created_at=txn.posted_at,
        updated_at=txn.posted_at,
    )


def hold_settle_locked(
    *,
    accounts: Mapping[int, LockedAccount],
    hold: Hold,
    amount: Decimal,
    other_legs: Sequence[Leg],
    kind: str,
    idempotency_key: str,
    fingerprint_value: str,
    actor_id: int,
    memo: str = "",
    reference: str = "",
) -> JournalTransaction:
    """Take ``amount`` out of a locked, active hold and post it with ``other_legs`` (which must
    balance it, per asset). ``kind`` release returns it to available; anything else captures it."""
    in_transaction()
    if hold.status != HoldStatus.ACTIVE:
        raise errors.HoldNotActive(f"Hold {hold.pk} is {hold.status}.")
    if amount <= 0 or amount > hold.remaining:
        raise errors.HoldExceeded(f"Hold {hold.pk} has {hold.remaining:f} remaining; {amount:f} was asked.")
    legs = [Leg(hold.reserved_account_id, -amount), *other_legs]
    txn = post_locked(
        accounts=accounts,
        legs=legs,
        kind=kind,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint_value,
        actor_id=actor_id,
        memo=memo,
        reference=reference or hold.reference,
        hold_id=hold.pk,
        reserved_account_id=hold.reserved_account_id,
    )
    if txn.replayed:  # posted before under this key: the hold moved then, not again
        return txn
    hold.remaining -= amount
    if kind != TransactionKind.RELEASE:
        hold.captured += amount
    _close_if_done(hold)
    hold.updated_at = txn.posted_at
    locks.save_hold(hold)
    return txn


def hold_increase_locked(
    *,
    accounts: Mapping[int, LockedAccount],
    hold: Hold,
    amount: Decimal,
    idempotency_key: str,
    actor_id: int,
    memo: str = "",
) -> JournalTransaction:
    """Reserve ``amount`` more into an active hold (an order replaced upwards)."""
    in_transaction()
    if hold.status != HoldStatus.ACTIVE:
        raise errors.HoldNotActive(f"Hold {hold.pk} is {hold.status}.")
    legs = [Leg(hold.available_account_id, -amount), Leg(hold.reserved_account_id, amount)]
    txn = post_locked(
        accounts=accounts,
        legs=legs,
        kind=TransactionKind.HOLD,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint(TransactionKind.HOLD, legs, hold_id=hold.pk),
        actor_id=actor_id,
        memo=memo,
        reference=hold.reference,
        hold_id=hold.pk,
        reserved_account_id=hold.reserved_account_id,
    )
    if txn.replayed:  # posted before under this key: the hold grew then, not again
        return txn
    hold.amount += amount
    hold.remaining += amount
    hold.updated_at = txn.posted_at
    locks.save_hold(hold)
    return txn


def hold_release_locked(
    *,
    accounts: Mapping[int, LockedAccount],
    hold: Hold,
    amount: Decimal | None,
    idempotency_key: str,
    actor_id: int,
    memo: str = "",
) -> JournalTransaction | None:
    """Return ``amount`` (default: all that remains) to the available account; None if nothing remains."""
    value = hold.remaining if amount is None else amount
    if hold.status != HoldStatus.ACTIVE or value == 0:
        return None
    return hold_settle_locked(
        accounts=accounts,
        hold=hold,
        amount=value,
        other_legs=[Leg(hold.available_account_id, value)],
        kind=TransactionKind.RELEASE,
        idempotency_key=idempotency_key,
        fingerprint_value=fingerprint(TransactionKind.RELEASE, [], hold_id=hold.pk, extra=f"{value:f}"),
        actor_id=actor_id,
        memo=memo,
    )


def _close_if_done(hold: Hold) -> None:
    if hold.remaining != 0:
        return
    if hold.captured == hold.amount:
        hold.status = HoldStatus.CAPTURED
    elif hold.captured == 0:
        hold.status = HoldStatus.RELEASED
    else:
        hold.status = HoldStatus.CLOSED


__all__ = [
    "hold_increase_locked",
    "hold_release_locked",
    "hold_reserve_locked",
    "hold_settle_locked",
    "postings_deferred",
]
