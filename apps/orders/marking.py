"""Intraday mark-to-market: every account's cash and positions valued at the reference prices,
stored as exposure snapshots, and held against the exposure limits.

The orders app owns positions, so it gathers them (with the ledger's cash and the reference
prices) here and hands the figures to risk: ``exposure_snapshot_record`` stores one snapshot per
account and the firm-wide row in one transaction, then ``exposure_limits_enforce`` moves the
accounts (or the firm) that breach a limit to reducing only or halted and lets compliance raise
its alert. Run every minute by beat (``orders.mark_to_market``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from apps.ledger.models import Purpose
from apps.orders.calendar import last_close
from apps.risk.exposure import AccountMarks, Breach, PositionMark
from apps.risk.models import ExposureSnapshot
from apps.risk.services import exposure_limits_enforce, exposure_snapshot_record

if TYPE_CHECKING:
    from apps.users.models import User

# One statement, so cash and positions are read at one instant (a fill moves both in one
# transaction): each account's base-currency cash (available + reserved), and each of its
# positions that holds shares or has realized P&L, with the instrument's reference price.
_MARKS = """
SELECT 'cash' AS kind, a.id, a.base_currency, sum(l.balance), NULL::bigint, NULL, NULL, NULL::smallint,
       NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::timestamptz
  FROM ledger_ledgeraccount l
  JOIN ledger_asset s ON s.id = l.asset_id
  JOIN accounts_tradingaccount a ON a.id = l.trading_account_id AND a.base_currency = s.code
 WHERE l.purpose IN (%(available)s, %(reserved)s)
 GROUP BY a.id, a.base_currency
HAVING sum(l.balance) <> 0
UNION ALL
SELECT 'position', a.id, a.base_currency, NULL, i.id, i.symbol, i.currency, coalesce(c.scale, 8),
       p.quantity, p.cost_basis, p.realized_pnl, r.price, r.as_of
  FROM orders_position p
  JOIN accounts_tradingaccount a ON a.id = p.account_id
  JOIN instruments_instrument i ON i.id = p.instrument_id
  LEFT JOIN ledger_asset c ON c.code = i.currency
  LEFT JOIN instruments_referenceprice r ON r.instrument_id = i.id
 WHERE p.quantity <> 0 OR p.realized_pnl <> 0
"""


@dataclass(frozen=True)
class MarkResult:
    taken_at: datetime
    snapshots: list[ExposureSnapshot] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)  # the ones acted on (a state changed)


def marks_gather() -> list[AccountMarks]:
    """Every account with any cash or position: its cash and its positions, priced."""
    cash: dict[int, Decimal] = {}
    currency: dict[int, str] = {}
    positions: dict[int, list[PositionMark]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_MARKS, {"available": Purpose.CASH_AVAILABLE, "reserved": Purpose.CASH_RESERVED})
        rows = cursor.fetchall()
    for kind, account, base, amount, instrument, symbol, cur, scale, qty, cost, realized, price, as_of in rows:
        currency[account] = base
        if kind == "cash":
            cash[account] = amount
        else:
            positions.setdefault(account, []).append(
                PositionMark(instrument, symbol, cur, scale, qty, cost, realized, price, as_of)
            )
    return [
        AccountMarks(
            account_id=account,
            currency=currency[account],
            cash=cash.get(account, Decimal(0)),
            positions=sorted(positions.get(account, []), key=lambda p: p.instrument_id),
        )
        for account in sorted(currency)
    ]


def mark_to_market(*, actor: User, now: datetime | None = None) -> MarkResult:
    """One run: gather, record the snapshots (one transaction), then enforce the limits (each
    state change its own transaction, through the kill switch, idempotent)."""
    taken_at = now or timezone.now()
    marks = marks_gather()
    snapshots = exposure_snapshot_record(taken_at=taken_at, day_start=last_close(taken_at), accounts=marks)
    breaches = exposure_limits_enforce(actor=actor, snapshots=snapshots)
    return MarkResult(taken_at=taken_at, snapshots=snapshots, breaches=breaches)
