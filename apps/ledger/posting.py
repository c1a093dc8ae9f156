"""The one place that writes journal transactions, entries and balances.

Callers lock the legs' ledger accounts first (``locks.lock_ledger_accounts``) inside a
transaction; ``post_locked`` then checks assets, scale, the zero sum per asset and
overdrafts in Python, and writes everything in ONE statement: the transaction (unless its
idempotency key exists), its entries (each with the account's next version and running
balance), the new stored balances, and the transaction's place in the sequencer's queue.

Idempotency costs nothing on success: the insert skips on a key conflict (waiting for a
concurrent twin to commit), and only then — or when about to refuse — is the key looked up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.core import context
from apps.core.decimals import AMOUNT_MAX_INTEGER_DIGITS, check_scale
from apps.core.errors import ApplicationError
from apps.core.scopes import bound
from apps.ledger import errors
from apps.ledger.legs import Leg
from apps.ledger.locks import LockedAccount
from apps.ledger.models import RESERVED_PURPOSES, JournalTransaction

_WRITE = """
WITH legs (account_id, asset_id, amount, version, balance_after) AS (
    SELECT * FROM unnest(%(accounts)s::bigint[], %(assets)s::bigint[], %(amounts)s::numeric[],
                         %(versions)s::bigint[], %(balances)s::numeric[])
), txn AS (
    INSERT INTO ledger_journaltransaction
        (kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at, reverses_id, hold_id)
    VALUES (%(kind)s, %(key)s, %(fingerprint)s, %(reference)s, %(memo)s, %(actor)s, %(correlation)s, %(posted_at)s,
            %(reverses)s, %(hold)s)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), entries AS (
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT txn.id, legs.account_id, legs.asset_id, legs.amount, legs.version, legs.balance_after, %(posted_at)s
      FROM txn, legs
), balances AS (
    UPDATE ledger_ledgeraccount a SET balance = legs.balance_after, version = legs.version
      FROM legs, txn WHERE a.id = legs.account_id
), queued AS (
    INSERT INTO ledger_unsequenced (transaction_id) SELECT id FROM txn
)
SELECT id FROM txn
"""


def find_replay(idempotency_key: str, fingerprint: str) -> JournalTransaction | None:
    """The transaction already posted under this key, if its content matches; a conflict if not."""
    existing = JournalTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise errors.IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was already used for a different transaction ({existing.pk}).",
            transaction_id=existing.pk,
        )
    existing.replayed = True
    return existing


def check_legs(accounts: Mapping[int, LockedAccount], legs: Sequence[Leg], reserved_account_id: int | None) -> None:
    missing = [leg.account_id for leg in legs if leg.account_id not in accounts]
    if missing:
        raise errors.UnknownLedgerAccount(f"Unknown ledger account(s): {', '.join(map(str, missing))}.")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        account = accounts[leg.account_id]
        if account.purpose in RESERVED_PURPOSES and leg.account_id != reserved_account_id:
            raise errors.InvalidLegs(
                f"Ledger account {leg.account_id} is a reserved account: only holds move value in and out of it."
            )
        check_scale(leg.amount, scale=account.scale)
        totals[account.asset_code] += leg.amount
    unbalanced = {code: total for code, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{code} {total:+f}" for code, total in sorted(unbalanced.items()))
        raise errors.Unbalanced(f"The legs do not sum to zero per asset: {detail}.")
    for leg in legs:
        account = accounts[leg.account_id]
        if abs(account.balance + leg.amount).adjusted() >= AMOUNT_MAX_INTEGER_DIGITS:  # the column would overflow
            raise errors.InvalidAmount(
                f"{abs(leg.amount):f} would take ledger account {account.id} ({account.purpose} "
                f"{account.asset_code}) beyond the largest balance it can hold."
            )
        if not account.allow_negative and account.balance + leg.amount < 0:
            raise errors.InsufficientFunds(
                f"Ledger account {account.id} ({account.purpose} {account.asset_code}) holds {account.balance:f}; "
                f"{-leg.amount:f} is needed.",
                ledger_account=account.id,
                available=f"{account.balance:f}",
                requested=f"{-leg.amount:f}",
            )


def post_locked(
    *,
    accounts: Mapping[int, LockedAccount],
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
    hold service may move value through; any other reserved account in the legs is refused.
    A concurrent twin of the same key that committed first is answered as a replay, even when
    this posting would now be refused (its twin already spent the funds)."""
    try:
        check_legs(accounts, legs, reserved_account_id)
    except ApplicationError:
        replay = find_replay(idempotency_key, fingerprint)
        if replay is not None:
            return replay
        raise
    posted_at = timezone.now()
    changed = []
    for leg in legs:
        account = accounts[leg.account_id]
        changed.append((account, account.balance + leg.amount, account.version + 1))
    txn = JournalTransaction(
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
    state = _deferred.get()
    if state is not None:  # written with the batch (``postings_deferred``)
        txn.id = state.next_id()
        state.postings.append(txn)
        for (account, balance, version), leg in zip(changed, legs, strict=True):
            state.legs.append((txn.id, account.id, account.asset_id, leg.amount, version, balance, posted_at))
            state.touched[account.id] = account
    else:
        params: dict[str, Any] = {
            "accounts": [a.id for a, _, _ in changed],
            "assets": [a.asset_id for a, _, _ in changed],
            "amounts": [leg.amount for leg in legs],
            "versions": [v for _, _, v in changed],
            "balances": [b for _, b, _ in changed],
            "kind": kind,
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "reference": reference,
            "memo": memo,
            "actor": actor_id,
            "correlation": txn.correlation_id,
            "posted_at": posted_at,
            "reverses": reverses_id,
            "hold": hold_id,
        }
        with connection.cursor() as cursor:
            cursor.execute(_WRITE, params)
            row = cursor.fetchone()
        if row is None:  # the key exists: a twin committed first
            replay = find_replay(idempotency_key, fingerprint)
            assert replay is not None
            return replay
        txn.id = row[0]
    for account, balance, version in changed:
        account.balance, account.version = balance, version
    txn._state.adding = False
    txn.replayed = False
    return txn


_ID_BLOCK = 64


@dataclass
class _Deferred:
    """Postings of a batch, checked and applied to the locked accounts in memory, written at the end."""

    postings: list[JournalTransaction] = field(default_factory=list)
    legs: list[tuple[int, int, int, Decimal, int, Decimal, datetime]] = field(default_factory=list)
    touched: dict[int, LockedAccount] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)

    def next_id(self) -> int:
        """A transaction id from the table's own sequence, taken ``_ID_BLOCK`` at a time."""
        if not self.ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('ledger_journaltransaction', 'id'))"
                    " FROM generate_series(1, %s)",
                    [_ID_BLOCK],
                )
                self.ids = [row[0] for row in cursor.fetchall()][::-1]
        return self.ids.pop()


_deferred: ContextVar[_Deferred | None] = ContextVar("ledger_postings_deferred", default=None)

_WRITE_DEFERRED = """
WITH postings (id, kind, key, fingerprint, reference, memo, actor_id, correlation_id, posted_at, reverses_id, hold_id)
    AS (SELECT * FROM unnest(%(ids)s::bigint[], %(kinds)s::text[], %(keys)s::text[], %(fingerprints)s::text[],
                             %(references)s::text[], %(memos)s::text[], %(actors)s::bigint[],
                             %(correlations)s::text[], %(posted)s::timestamptz[], %(reverses)s::bigint[],
                             %(holds)s::bigint[])
), legs (transaction_id, account_id, asset_id, amount, version, balance_after, posted_at) AS (
    SELECT * FROM unnest(%(leg_txns)s::bigint[], %(accounts)s::bigint[], %(assets)s::bigint[], %(amounts)s::numeric[],
                         %(versions)s::bigint[], %(balances)s::numeric[], %(leg_posted)s::timestamptz[])
), finals (account_id, version, balance) AS (
    SELECT * FROM unnest(%(final_accounts)s::bigint[], %(final_versions)s::bigint[], %(final_balances)s::numeric[])
), txn AS (
    INSERT INTO ledger_journaltransaction
        (id, kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at, reverses_id,
         hold_id)
    SELECT * FROM postings ORDER BY id
    RETURNING id
), entries AS (
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT * FROM legs
), balances AS (
    UPDATE ledger_ledgeraccount a SET balance = finals.balance, version = finals.version
      FROM finals WHERE a.id = finals.account_id
), queued AS (
    INSERT INTO ledger_unsequenced (transaction_id) SELECT id FROM txn
)
SELECT count(*) FROM txn
"""


@contextmanager
def postings_deferred() -> Iterator[None]:
    """Within the block (inside one transaction, under a ``locks.lock_scope`` that holds every
    account the batch posts to), ``post_locked`` checks each posting and applies it to the locked
    accounts in memory at once, exactly as it would write it, and the block's end writes every
    posting of the batch, their entries, the accounts' final balances and the sequencer's queue
    in ONE statement. Idempotency keys must be new (a batch posts what it has just recorded as
    new): a key that exists fails the statement with its unique violation, and the caller's
    transaction rolls back."""
    assert connection.in_atomic_block, "deferred postings live inside a transaction"
    with bound(_deferred, _Deferred()) as state:
        yield
    if not state.postings:
        return
    p = state.postings
    params: dict[str, Any] = {
        "ids": [t.id for t in p],
        "kinds": [t.kind for t in p],
        "keys": [t.idempotency_key for t in p],
        "fingerprints": [t.fingerprint for t in p],
        "references": [t.reference for t in p],
        "memos": [t.memo for t in p],
        "actors": [t.actor_id for t in p],
        "correlations": [t.correlation_id for t in p],
        "posted": [t.posted_at for t in p],
        "reverses": [t.reverses_id for t in p],
        "holds": [t.hold_id for t in p],
        "leg_txns": [row[0] for row in state.legs],
        "accounts": [row[1] for row in state.legs],
        "assets": [row[2] for row in state.legs],
        "amounts": [row[3] for row in state.legs],
        "versions": [row[4] for row in state.legs],
        "balances": [row[5] for row in state.legs],
        "leg_posted": [row[6] for row in state.legs],
        "final_accounts": list(state.touched),
        "final_versions": [a.version for a in state.touched.values()],
        "final_balances": [a.balance for a in state.touched.values()],
    }
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_DEFERRED, params)
        row = cursor.fetchone()
    assert row is not None and row[0] == len(p), (row, len(p))
