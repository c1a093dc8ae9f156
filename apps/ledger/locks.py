"""Row locks for the ledger. One global order: ledger accounts by primary key, then holds.

``FOR NO KEY UPDATE`` (``no_key=True``): balances change non-key columns, and plain
``FOR UPDATE`` would conflict with the ``KEY SHARE`` locks that the (deferred) foreign-key
checks of concurrently inserted entries take, which deadlocks hot accounts.

The account lock is the posting hot path: one hand-written statement returning plain rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from apps.ledger.models import Hold

_LOCK_ACCOUNTS = """
SELECT a.id, a.trading_account_id, a.purpose, a.asset_id, s.code, s.scale, a.balance, a.version, a.allow_negative
  FROM ledger_ledgeraccount a JOIN ledger_asset s ON s.id = a.asset_id
 WHERE a.id = ANY(%s) ORDER BY a.id FOR NO KEY UPDATE OF a
"""


@dataclass
class LockedAccount:
    """A ledger account as read under its row lock: what a posting checks and updates."""

    id: int
    trading_account_id: int | None
    purpose: str
    asset_id: int
    asset_code: str
    scale: int
    balance: Decimal
    version: int
    allow_negative: bool

    @property
    def pk(self) -> int:
        return self.id


def lock_ledger_accounts(ids: Iterable[int]) -> dict[int, LockedAccount]:
    """Lock the given ledger accounts in primary-key order; return them by id."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ACCOUNTS, [sorted(set(ids))])
        return {row[0]: LockedAccount(*row) for row in cursor.fetchall()}


def lock_hold(hold_id: int) -> Hold | None:
    """Lock one hold. Call after locking its ledger accounts."""
    return Hold.objects.select_for_update(no_key=True, of=("self",)).filter(id=hold_id).first()
