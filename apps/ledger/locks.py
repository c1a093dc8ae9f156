"""Row locks for the ledger. One global order: ledger accounts by primary key, then holds.

``FOR NO KEY UPDATE`` (``no_key=True``): balances change non-key columns, and plain
``FOR UPDATE`` would conflict with the ``KEY SHARE`` locks that the (deferred) foreign-key
checks of concurrently inserted entries take, which deadlocks hot accounts.

The account lock is the posting hot path: one hand-written statement returning plain rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from apps.core.rows import update_rows
from apps.core.scopes import bound
from apps.ledger.models import Asset, Hold, LedgerAccount

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


@dataclass
class _Held:
    """Rows locked in the current batch transaction, as the batch changed them so far."""

    accounts: dict[int, LockedAccount] = field(default_factory=dict)
    holds: dict[int, Hold] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)  # immutable rows, read once per batch
    resolved: dict[tuple[int | None, str, int], LedgerAccount] = field(default_factory=dict)
    changed_holds: dict[int, Hold] = field(default_factory=dict)  # written once, at the scope's end


_held: ContextVar[_Held | None] = ContextVar("ledger_locks_held", default=None)


@contextmanager
def lock_scope() -> Iterator[None]:
    """Within the block (inside one transaction), a row locked once is answered from memory:
    every posting of a batch reads and updates the same ``LockedAccount`` and ``Hold`` objects,
    so a batch locks its rows up front in one statement each, in the global order, and the
    steps that follow lock nothing again (house accounts locked once per batch, not per fill).
    The holds the batch changed are written at the block's end, in one statement.
    Leave the block before the transaction ends (a rollback discards what the objects say)."""
    assert connection.in_atomic_block, "a lock scope lives inside a transaction"
    with bound(_held, _Held()) as held:
        yield
    update_rows(list(held.changed_holds.values()), _HOLD_FIELDS)


_HOLD_FIELDS = ["amount", "remaining", "captured", "status", "updated_at"]


def save_hold(hold: Hold) -> None:
    """Write a locked hold's figures: now, or, for a hold locked in a lock scope, at its end."""
    held = _held.get()
    if held is not None and held.holds.get(hold.pk) is hold:
        held.changed_holds[hold.pk] = hold
    else:
        hold.save(update_fields=_HOLD_FIELDS)


def scoped_asset(code: str) -> Asset | None:
    """The asset read earlier in the current lock scope, if any."""
    held = _held.get()
    return None if held is None else held.assets.get(code)


def scoped_accounts() -> dict[tuple[int | None, str, int], LedgerAccount] | None:
    """The ledger accounts resolved in the current lock scope (None: no scope), to add to."""
    held = _held.get()
    return None if held is None else held.resolved


def remember_asset(asset: Asset) -> None:
    held = _held.get()
    if held is not None:
        held.assets[asset.code] = asset


def _lock_accounts(ids: list[int]) -> dict[int, LockedAccount]:
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ACCOUNTS, [ids])
        return {row[0]: LockedAccount(*row) for row in cursor.fetchall()}


def lock_ledger_accounts(ids: Iterable[int]) -> dict[int, LockedAccount]:
    """Lock the given ledger accounts in primary-key order; return them by id."""
    wanted = sorted(set(ids))
    held = _held.get()
    if held is None:
        return _lock_accounts(wanted)
    missing = [i for i in wanted if i not in held.accounts]
    if missing:
        held.accounts.update(_lock_accounts(missing))
    return {i: held.accounts[i] for i in wanted if i in held.accounts}


def lock_holds(ids: Iterable[int]) -> dict[int, Hold]:
    """Lock holds in primary-key order (one statement). Call after locking their ledger accounts."""
    wanted = sorted(set(ids))
    held = _held.get()
    missing = [i for i in wanted if held is None or i not in held.holds]
    found = {
        h.pk: h for h in Hold.objects.select_for_update(no_key=True, of=("self",)).filter(id__in=missing).order_by("id")
    }
    if held is None:
        return found
    held.holds.update(found)
    return {i: held.holds[i] for i in wanted if i in held.holds}


def lock_hold(hold_id: int) -> Hold | None:
    """Lock one hold. Call after locking its ledger accounts."""
    held = _held.get()
    if held is not None and hold_id in held.holds:
        return held.holds[hold_id]
    return lock_holds([hold_id]).get(hold_id)
