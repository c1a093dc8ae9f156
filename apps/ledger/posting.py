"""The one place that writes journal transactions, entries and balances.

Callers lock the legs' ledger accounts first (``locks.lock_ledger_accounts``) inside a
transaction; ``post_locked`` then checks assets, balance per asset and overdrafts, and
writes the transaction (the database assigns its gap-free sequence), its entries (each
with the account's next version and running balance) and the new stored balances: three
statements, whatever the number of legs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, connection
from django.utils import timezone

from apps.core import context
from apps.core.decimals import check_scale
from apps.ledger import errors
from apps.ledger.legs import Leg
from apps.ledger.models import RESERVED_PURPOSES, JournalEntry, JournalTransaction, LedgerAccount

IDEMPOTENCY_CONSTRAINT = "ledger_journaltransaction_idempotency_key_key"


def find_replay(idempotency_key: str, fingerprint: str) -> JournalTransaction | None:
    """The transaction already posted under this key, if its content matches; a conflict if not."""
    existing = JournalTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise errors.IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was already used for a different transaction (#{existing.sequence}).",
            transaction_id=existing.pk,
        )
    existing.replayed = True
    return existing


def is_idempotency_violation(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == IDEMPOTENCY_CONSTRAINT


def post_locked(
    *,
    accounts: dict[int, LedgerAccount],
    legs: Sequence[Leg],
    kind: str,
    idempotency_key: str,
    fingerprint: str,
    actor_id: int,
    memo: str = "",
    reference: str = "",
    reverses_id: int | None = None,
    hold_id: int | None = None,
    reserved_account_id: int | None = None,
) -> JournalTransaction:
    """Post under the caller's locks. ``reserved_account_id`` is the one reserved account a
    hold service may move value through; any other reserved account in the legs is refused."""
    missing = [leg.account_id for leg in legs if leg.account_id not in accounts]
    if missing:
        raise errors.UnknownLedgerAccount(f"Unknown ledger account(s): {', '.join(map(str, missing))}.")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        if accounts[leg.account_id].purpose in RESERVED_PURPOSES and leg.account_id != reserved_account_id:
            raise errors.InvalidLegs(
                f"Ledger account {leg.account_id} is a reserved account: only holds move value in and out of it."
            )
        asset = accounts[leg.account_id].asset
        check_scale(leg.amount, scale=asset.scale)
        totals[asset.code] += leg.amount
    unbalanced = {code: total for code, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{code} {total:+f}" for code, total in sorted(unbalanced.items()))
        raise errors.Unbalanced(f"The legs do not sum to zero per asset: {detail}.")
    for leg in legs:
        account = accounts[leg.account_id]
        if not account.allow_negative and account.balance + leg.amount < 0:
            raise errors.InsufficientFunds(
                f"Ledger account {account.pk} ({account.purpose} {account.asset.code}) holds {account.balance:f}; "
                f"{-leg.amount:f} is needed.",
                ledger_account=account.pk,
                available=f"{account.balance:f}",
                requested=f"{-leg.amount:f}",
            )

    posted_at = timezone.now()
    txn = JournalTransaction.objects.create(
        kind=kind,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        memo=memo,
        reference=reference,
        actor_id=actor_id,
        correlation_id=context.current().correlation_id,
        posted_at=posted_at,
        reverses_id=reverses_id,
        hold_id=hold_id,
    )
    entries = []
    for leg in legs:
        account = accounts[leg.account_id]
        account.balance += leg.amount
        account.version += 1
        entries.append(
            JournalEntry(
                transaction=txn,
                ledger_account_id=account.pk,
                asset_id=account.asset_id,
                amount=leg.amount,
                account_version=account.version,
                balance_after=account.balance,
                posted_at=posted_at,
            )
        )
    JournalEntry.objects.bulk_create(entries)
    _store_balances([accounts[leg.account_id] for leg in legs])
    txn.replayed = False
    return txn


def _store_balances(accounts: Sequence[LedgerAccount]) -> None:
    values = ", ".join(["(%s::bigint, %s::numeric, %s::bigint)"] * len(accounts))
    params: list[int | Decimal] = []
    for account in accounts:
        params += [account.pk, account.balance, account.version]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ledger_ledgeraccount AS a SET balance = v.balance, version = v.version "  # noqa: S608 - placeholders only
            f"FROM (VALUES {values}) AS v(id, balance, version) WHERE a.id = v.id",
            params,
        )
