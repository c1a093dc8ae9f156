"""Reconciliation: the books that must agree, checked against each other.

- **Positions against the ledger.** Each account's position in an instrument
  (``orders_position.quantity``) must equal the ledger's units of that instrument held for the
  account: the balances of its ``position_available`` and ``position_reserved`` ledger accounts.
  Either side may be missing (no position row, or no ledger account): it counts as zero.
- **Orders against their fills.** Each order's ``filled_quantity`` must equal the sum of its
  fills' quantities.

Each difference becomes a ``ReconciliationBreak`` (kind, account, summary, both numbers in its
details) unless a break for the same thing (same kind and ``details["key"]``) is already
recorded and not yet reviewed: a difference that persists is recorded once, until a supervisor
reviews it; if it is still there at the next run after the review, it is recorded again.

Reads only (SQL over the ledger's and orders' tables); writes only breaks. One run at a time
(a transaction-level advisory lock), in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.compliance.models import ExceptionQueue, ExceptionReview, ReconciliationBreak

logger = logging.getLogger(__name__)

RECONCILIATION_LOCK = 7_340_010  # pg_advisory_xact_lock key of the one reconciliation run

POSITION_VS_LEDGER = "position_vs_ledger"
ORDER_FILLS = "order_filled_vs_fills"

_POSITIONS_SQL = """
WITH ledger AS (
    SELECT la.trading_account_id AS account_id, i.id AS instrument_id, sum(la.balance) AS quantity
      FROM ledger_ledgeraccount la
      JOIN instruments_instrument i ON i.asset_id = la.asset_id
     WHERE la.purpose IN ('position_available', 'position_reserved') AND la.trading_account_id IS NOT NULL
     GROUP BY la.trading_account_id, i.id
)
SELECT coalesce(p.account_id, l.account_id), coalesce(p.instrument_id, l.instrument_id),
       coalesce(p.quantity, 0), coalesce(l.quantity, 0), (p.id IS NOT NULL), (l.account_id IS NOT NULL)
  FROM orders_position p
  FULL OUTER JOIN ledger l ON l.account_id = p.account_id AND l.instrument_id = p.instrument_id
 WHERE coalesce(p.quantity, 0) <> coalesce(l.quantity, 0)
 ORDER BY 1, 2
"""

_POSITIONS_COUNT_SQL = "SELECT count(*) FROM orders_position"

_ORDERS_SQL = """
SELECT o.id, o.account_id, o.filled_quantity, coalesce(f.quantity, 0), coalesce(f.fills, 0)
  FROM orders_order o
  LEFT JOIN (SELECT order_id, sum(quantity) AS quantity, count(*) AS fills FROM orders_fill GROUP BY order_id) f
         ON f.order_id = o.id
 WHERE o.filled_quantity <> coalesce(f.quantity, 0)
 ORDER BY o.id
"""

_ORDERS_COUNT_SQL = "SELECT count(*) FROM orders_order"


def _plain(value: Decimal) -> str:
    """A quantity as a plain decimal string without trailing zeros ("10", "0.5", "-3")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Difference:
    kind: str
    key: str
    account_id: int | None
    summary: str
    details: dict[str, Any]


@dataclass
class ReconciliationResult:
    positions_checked: int = 0
    orders_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    recorded: list[ReconciliationBreak] = field(default_factory=list)
    already_open: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "positions_checked": self.positions_checked,
            "orders_checked": self.orders_checked,
            "differences": len(self.differences),
            "recorded": [b.pk for b in self.recorded],
            "already_open": len(self.already_open),
        }


def _rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _labels(account_ids: set[int], instrument_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    """Account numbers and symbols of the rows found (only those)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, number FROM accounts_tradingaccount WHERE id = ANY(%s)", [sorted(account_ids)])
        accounts = dict(cursor.fetchall())
        cursor.execute("SELECT id, symbol FROM instruments_instrument WHERE id = ANY(%s)", [sorted(instrument_ids)])
        instruments = dict(cursor.fetchall())
    return accounts, instruments


def differences_find() -> tuple[list[Difference], int, int]:
    """Every difference between the books, and how many positions and orders were compared."""
    position_rows = _rows(_POSITIONS_SQL)
    order_rows = _rows(_ORDERS_SQL)
    ((positions,),) = _rows(_POSITIONS_COUNT_SQL)
    ((orders,),) = _rows(_ORDERS_COUNT_SQL)
    accounts, instruments = _labels(
        {r[0] for r in position_rows} | {r[1] for r in order_rows}, {r[1] for r in position_rows}
    )
    found: list[Difference] = []
    for account_id, instrument_id, position_qty, ledger_qty, has_position, has_ledger in position_rows:
        number, symbol = accounts.get(account_id, str(account_id)), instruments.get(instrument_id, str(instrument_id))
        found.append(
            Difference(
                kind=POSITION_VS_LEDGER,
                key=f"position:{account_id}:{instrument_id}",
                account_id=account_id,
                summary=(
                    f"Account {number} {symbol}: position {_plain(position_qty)} but the ledger holds "
                    f"{_plain(ledger_qty)} (difference {_plain(position_qty - ledger_qty)})"
                ),
                details={
                    "key": f"position:{account_id}:{instrument_id}",
                    "account_id": account_id,
                    "account_number": number,
                    "instrument_id": instrument_id,
                    "symbol": symbol,
                    "position_quantity": _plain(position_qty),
                    "ledger_quantity": _plain(ledger_qty),
                    "difference": _plain(position_qty - ledger_qty),
                    "position_row_exists": has_position,
                    "ledger_accounts_exist": has_ledger,
                },
            )
        )
    for order_id, account_id, filled_qty, fills_qty, fills in order_rows:
        number = accounts.get(account_id, str(account_id))
        found.append(
            Difference(
                kind=ORDER_FILLS,
                key=f"order:{order_id}",
                account_id=account_id,
                summary=(
                    f"Order {order_id} (account {number}): filled quantity {_plain(filled_qty)} but its "
                    f"{fills} fill(s) add up to {_plain(fills_qty)}"
                ),
                details={
                    "key": f"order:{order_id}",
                    "order_id": order_id,
                    "account_id": account_id,
                    "account_number": number,
                    "order_filled_quantity": _plain(filled_qty),
                    "fills_quantity": _plain(fills_qty),
                    "fills": fills,
                    "difference": _plain(filled_qty - fills_qty),
                },
            )
        )
    return found, positions, orders


def _open_keys() -> set[tuple[str, str]]:
    """(kind, key) of the breaks recorded and not yet reviewed."""
    reviewed = ExceptionReview.objects.filter(queue=ExceptionQueue.RECONCILIATION_BREAK, object_id=OuterRef("pk"))
    rows = ReconciliationBreak.objects.filter(~Exists(reviewed)).values_list("kind", "details__key")
    return {(kind, key) for kind, key in rows if key}


def reconciliation_run() -> ReconciliationResult:
    """Compare the books and record a break for each new difference (see the module's doc).
    A job of the system: breaks carry no actor; who reviews them is recorded on review."""
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RECONCILIATION_LOCK])
        found, positions, orders = differences_find()
        result = ReconciliationResult(positions_checked=positions, orders_checked=orders, differences=found)
        open_keys = _open_keys()
        now = timezone.now()
        for difference in found:
            if (difference.kind, difference.key) in open_keys:
                result.already_open.append(difference)
                continue
            result.recorded.append(
                ReconciliationBreak.objects.create(
                    kind=difference.kind,
                    account_id=difference.account_id,
                    summary=difference.summary,
                    details=difference.details,
                    found_at=now,
                )
            )
    for item in result.recorded:
        logger.warning(
            "reconciliation_break break=%s kind=%s: %s",
            item.pk,
            item.kind,
            item.summary,
            extra={"event": "reconciliation_break", "break_id": item.pk, "break_kind": item.kind},
        )
    return result
