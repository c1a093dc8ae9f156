"""Row locks for the ledger. One global order: ledger accounts by primary key, then holds.

``FOR NO KEY UPDATE`` (``no_key=True``): balances change non-key columns, and plain
``FOR UPDATE`` would conflict with the ``KEY SHARE`` locks that the (deferred) foreign-key
checks of concurrently inserted entries take, which deadlocks hot accounts.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.ledger.models import Hold, LedgerAccount


def lock_ledger_accounts(ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """Lock the given ledger accounts in primary-key order; return them by id."""
    wanted = sorted(set(ids))
    rows = (
        LedgerAccount.objects.select_for_update(no_key=True, of=("self",))
        .select_related("asset")
        .filter(id__in=wanted)
        .order_by("id")
    )
    return {row.id: row for row in rows}


def lock_hold(hold_id: int) -> Hold | None:
    """Lock one hold. Call after locking its ledger accounts."""
    return Hold.objects.select_for_update(no_key=True, of=("self",)).filter(id=hold_id).first()
