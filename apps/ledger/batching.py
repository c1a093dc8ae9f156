"""Many postings in one statement, for callers that place a batch (orders placing their holds).

``HoldReservations`` gathers holds under the caller's locks: each ``reserve`` is checked at once
against the balances as the earlier reservations of the batch left them (the same checks as
``post_locked``: reserved-account rule, scale, zero sum, no overdraft), and ``write`` then posts
every reservation's journal transaction, entries, balances and sequencer queue rows in ONE
statement and inserts the holds in one more. Nothing reaches the database before ``write``; a
reservation refused by its checks raises and leaves the others as they were.

Idempotency keys must be new: a batch is placed after its caller has found its replays, under the
locks that keep a twin from committing meanwhile. A key that exists anyway makes the statement
fail with the key's unique violation (``KEY_CONSTRAINT``), and the caller retries its batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.core import context
from apps.ledger.legs import Leg, fingerprint
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Hold, HoldStatus, TransactionKind
from apps.ledger.operations import in_transaction
from apps.ledger.posting import check_legs

KEY_CONSTRAINT = "ledger_journaltransaction_idempotency_key_key"

_WRITE_MANY = """
WITH postings (n, key, fingerprint, reference, memo, actor_id, correlation_id) AS (
    SELECT * FROM unnest(%(ns)s::int[], %(keys)s::text[], %(fingerprints)s::text[], %(references)s::text[],
                         %(memos)s::text[], %(actors)s::bigint[], %(correlations)s::text[])
), legs (n, account_id, asset_id, amount, version, balance_after) AS (
    SELECT * FROM unnest(%(leg_ns)s::int[], %(accounts)s::bigint[], %(assets)s::bigint[], %(amounts)s::numeric[],
                         %(versions)s::bigint[], %(balances)s::numeric[])
), finals (account_id, version, balance) AS (
    SELECT * FROM unnest(%(final_accounts)s::bigint[], %(final_versions)s::bigint[], %(final_balances)s::numeric[])
), txn AS (
    INSERT INTO ledger_journaltransaction
        (kind, idempotency_key, fingerprint, reference, memo, actor_id, correlation_id, posted_at, reverses_id, hold_id)
    SELECT %(kind)s, key, fingerprint, reference, memo, actor_id, correlation_id, %(posted_at)s, NULL, NULL
      FROM postings ORDER BY n
    RETURNING id, idempotency_key
), numbered AS (
    SELECT txn.id, postings.n FROM txn JOIN postings ON postings.key = txn.idempotency_key
), entries AS (
    INSERT INTO ledger_journalentry
        (transaction_id, ledger_account_id, asset_id, amount, account_version, balance_after, posted_at)
    SELECT numbered.id, legs.account_id, legs.asset_id, legs.amount, legs.version, legs.balance_after, %(posted_at)s
      FROM legs JOIN numbered ON numbered.n = legs.n
), balances AS (
    UPDATE ledger_ledgeraccount a SET balance = finals.balance, version = finals.version
      FROM finals WHERE a.id = finals.account_id
), queued AS (
    INSERT INTO ledger_unsequenced (transaction_id) SELECT id FROM numbered
)
SELECT id, n FROM numbered
"""


@dataclass(frozen=True)
class _Reservation:
    available_id: int
    reserved_id: int
    amount: Decimal
    key: str
    reference: str
    memo: str
    actor_id: int
    correlation_id: str
    legs: tuple[tuple[LockedAccount, Decimal, int, Decimal], ...]  # account, amount, version, balance after


class HoldReservations:
    """Holds to reserve under the caller's locks (``accounts``), written together."""

    def __init__(self, accounts: Mapping[int, LockedAccount]) -> None:
        self.accounts = accounts
        self._pending: list[_Reservation] = []

    def reserve(
        self,
        *,
        available_id: int,
        reserved_id: int,
        amount: Decimal,
        idempotency_key: str,
        actor_id: int,
        reference: str,
        memo: str,
    ) -> int:
        """Check a hold of ``amount`` from ``available`` into ``reserved`` against the balances as
        the batch leaves them, and count it in; returns its position. Raises as ``post_locked``
        would (insufficient funds, ...), changing nothing. The posting is attributed to
        ``actor_id`` and the current unit of work's correlation id."""
        legs = [Leg(available_id, -amount), Leg(reserved_id, amount)]
        check_legs(self.accounts, legs, reserved_id)
        applied = []
        for leg in legs:
            account = self.accounts[leg.account_id]
            account.balance += leg.amount
            account.version += 1
            applied.append((account, leg.amount, account.version, account.balance))
        self._pending.append(
            _Reservation(
                available_id,
                reserved_id,
                amount,
                idempotency_key,
                reference,
                memo,
                actor_id,
                context.current().correlation_id,
                tuple(applied),
            )
        )
        return len(self._pending) - 1

    def write(self) -> list[Hold]:
        """Post every reservation and create its hold (two statements); the holds in order."""
        in_transaction()
        if not self._pending:
            return []
        posted_at = timezone.now()
        pending = self._pending
        fingerprints = [
            fingerprint(TransactionKind.HOLD, [Leg(r.available_id, -r.amount), Leg(r.reserved_id, r.amount)])
            for r in pending
        ]
        finals: dict[int, LockedAccount] = {}
        leg_rows = []
        for n, reservation in enumerate(pending):
            for account, amount, version, balance in reservation.legs:
                leg_rows.append((n, account.id, account.asset_id, amount, version, balance))
                finals[account.id] = account
        params: dict[str, Any] = {
            "ns": list(range(len(pending))),
            "keys": [r.key for r in pending],
            "fingerprints": fingerprints,
            "references": [r.reference for r in pending],
            "memos": [r.memo for r in pending],
            "actors": [r.actor_id for r in pending],
            "correlations": [r.correlation_id for r in pending],
            "leg_ns": [row[0] for row in leg_rows],
            "accounts": [row[1] for row in leg_rows],
            "assets": [row[2] for row in leg_rows],
            "amounts": [row[3] for row in leg_rows],
            "versions": [row[4] for row in leg_rows],
            "balances": [row[5] for row in leg_rows],
            "final_accounts": list(finals),
            "final_versions": [a.version for a in finals.values()],
            "final_balances": [a.balance for a in finals.values()],
            "kind": TransactionKind.HOLD,
            "posted_at": posted_at,
        }
        with connection.cursor() as cursor:
            cursor.execute(_WRITE_MANY, params)
            ids = dict((n, txn_id) for txn_id, n in cursor.fetchall())
        assert len(ids) == len(pending)
        holds = Hold.objects.bulk_create(
            [
                Hold(
                    available_account_id=r.available_id,
                    reserved_account_id=r.reserved_id,
                    amount=r.amount,
                    remaining=r.amount,
                    status=HoldStatus.ACTIVE,
                    reference=r.reference,
                    reserve_transaction_id=ids[n],
                    created_at=posted_at,
                    updated_at=posted_at,
                )
                for n, r in enumerate(pending)
            ]
        )
        self._pending = []
        return holds
