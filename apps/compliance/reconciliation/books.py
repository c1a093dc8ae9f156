"""Reconciliation of our own books against each other.

- **Positions against the ledger.** Each account's position in an instrument
  (``orders_position.quantity``) must equal the ledger's units of that instrument held for the
  account: the balances of its ``position_available`` and ``position_reserved`` ledger accounts.
  Either side may be missing (no position row, or no ledger account): it counts as zero.
- **Orders against their fills.** Each order's ``filled_quantity`` must equal the sum of its
  fills' quantities.

Reads only (SQL over the ledger's and orders' tables, a constant number of queries).
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.compliance.reconciliation.common import ORDER_FILLS, POSITION_VS_LEDGER, Difference, plain

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


def books_differences_find() -> tuple[list[Difference], int, int]:
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
                    f"Account {number} {symbol}: position {plain(position_qty)} but the ledger holds "
                    f"{plain(ledger_qty)} (difference {plain(position_qty - ledger_qty)})"
                ),
                details={
                    "key": f"position:{account_id}:{instrument_id}",
                    "account_id": account_id,
                    "account_number": number,
                    "instrument_id": instrument_id,
                    "symbol": symbol,
                    "position_quantity": plain(position_qty),
                    "ledger_quantity": plain(ledger_qty),
                    "difference": plain(position_qty - ledger_qty),
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
                    f"Order {order_id} (account {number}): filled quantity {plain(filled_qty)} but its "
                    f"{fills} fill(s) add up to {plain(fills_qty)}"
                ),
                details={
                    "key": f"order:{order_id}",
                    "order_id": order_id,
                    "account_id": account_id,
                    "account_number": number,
                    "order_filled_quantity": plain(filled_qty),
                    "fills_quantity": plain(fills_qty),
                    "fills": fills,
                    "difference": plain(filled_qty - fills_qty),
                },
            )
        )
    return found, positions, orders
