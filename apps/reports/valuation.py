"""Accounts valued as of an instant, from the records alone (selectors).

Everything is read as it stood strictly before ``at``: cash and position quantities are the
ledger's balances after the last entry posted before ``at``; cost basis and realized P&L replay
the account's fills booked before ``at`` with the position-keeping rule of apps/orders/positions.py
(average cost, commissions in the cost); each instrument is valued at its closing price, the last
reference price recorded before ``at`` (``PriceObservation``). Nothing recorded later can change
the answer, which is what makes a report re-run byte-identical.

Set-based: one query each for the balances, the fills and the prices of any number of accounts;
the balance and the price as of an instant are each one index probe per ledger account and per
instrument (the latest row before it), whatever the length of the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection

from apps.core.errors import ValidationError

QUANTUM = Decimal("0.00000001")
ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionValue:
    symbol: str
    instrument_id: int
    currency: str
    tick_size: Decimal
    lot_size: Decimal
    quantity: Decimal
    price: Decimal | None  # the closing price; None when the instrument never had one
    market_value: Decimal | None
    cost_basis: Decimal
    realized_pnl: Decimal

    @property
    def unrealized_pnl(self) -> Decimal | None:
        return None if self.market_value is None else self.market_value - self.cost_basis


@dataclass
class Valuation:
    account_id: int
    number: str
    name: str
    base_currency: str
    cash: dict[str, Decimal] = field(default_factory=dict)  # currency -> total (available + reserved)
    cash_reserved: dict[str, Decimal] = field(default_factory=dict)
    positions: list[PositionValue] = field(default_factory=list)

    @property
    def base_cash(self) -> Decimal:
        return self.cash.get(self.base_currency, ZERO)

    @property
    def market_value(self) -> Decimal:
        """Of the positions quoted in the base currency (others are listed, not converted)."""
        return sum(
            (p.market_value for p in self.positions if p.currency == self.base_currency and p.market_value is not None),
            ZERO,
        )

    @property
    def equity(self) -> Decimal:
        return self.base_cash + self.market_value

    @property
    def gross_exposure(self) -> Decimal:
        return sum((abs(p.market_value) for p in self.positions if p.market_value is not None), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions if p.unrealized_pnl is not None), ZERO)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions), ZERO)


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_BALANCES = """
SELECT la.trading_account_id, la.purpose, a.code, a.kind, e.balance_after
  FROM ledger_ledgeraccount la
  JOIN ledger_asset a ON a.id = la.asset_id
  CROSS JOIN LATERAL (
        SELECT j.balance_after FROM ledger_journalentry j
         WHERE j.ledger_account_id = la.id AND j.posted_at < %s
         ORDER BY j.posted_at DESC, j.account_version DESC
         LIMIT 1) e
 WHERE la.trading_account_id = ANY(%s)
 ORDER BY la.id
"""

_FILLS = """
SELECT o.account_id, o.instrument_id, o.side, f.quantity, f.price, f.fee, cur.scale
  FROM orders_fill f
  JOIN orders_order o ON o.id = f.order_id
  JOIN instruments_instrument i ON i.id = o.instrument_id
  JOIN ledger_asset cur ON cur.code = i.currency
 WHERE o.account_id = ANY(%s) AND f.booked_at < %s
 ORDER BY f.booked_at, f.id
"""

_PRICES = """
SELECT i.id, p.price
  FROM instruments_instrument i
  CROSS JOIN LATERAL (
        SELECT o.price FROM instruments_priceobservation o
         WHERE o.instrument_id = i.id AND o.recorded_at < %s AND o.as_of < %s
         ORDER BY o.recorded_at DESC, o.id DESC
         LIMIT 1) p
"""

_INSTRUMENTS = (
    "SELECT i.id, i.symbol, i.currency, a.code, i.tick_size, i.lot_size "
    "FROM instruments_instrument i JOIN ledger_asset a ON a.id = i.asset_id"
)


def closing_prices(at: datetime) -> dict[int, Decimal]:
    """Each instrument's last reference price recorded (and observed) before ``at``."""
    return {instrument_id: price for instrument_id, price in _rows(_PRICES, [at, at])}


def _replay(fills: Iterable[tuple]) -> dict[tuple[int, int], list[Decimal]]:
    """(account, instrument) -> [quantity, cost basis, realized P&L], by the average-cost rule."""
    book: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for account_id, instrument_id, side, quantity, price, fee, scale in fills:
        cash = (quantity * price).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)
        slot = book[(account_id, instrument_id)]
        if side == "buy":
            slot[1] += cash + fee
            slot[0] += quantity
        else:
            if quantity >= slot[0]:
                removed = slot[1]
            else:
                removed = (slot[1] * quantity / slot[0]).quantize(QUANTUM, ROUND_HALF_EVEN)
            slot[2] += cash - fee - removed
            slot[1] -= removed
            slot[0] -= quantity
    return book


def valuations_as_of(*, at: datetime, account_ids: Iterable[int]) -> dict[int, Valuation]:
    """The valuation of each account as it stood just before ``at`` (four queries in all)."""
    if at.tzinfo is None:
        raise ValidationError("The instant must be timezone-aware.", code="naive_datetime")
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    accounts = _rows(
        "SELECT id, number, name, base_currency FROM accounts_tradingaccount WHERE id = ANY(%s) ORDER BY id", [ids]
    )
    result = {
        row[0]: Valuation(account_id=row[0], number=row[1], name=row[2], base_currency=row[3]) for row in accounts
    }
    instruments = {
        code: (iid, symbol, currency, tick, lot) for iid, symbol, currency, code, tick, lot in _rows(_INSTRUMENTS, [])
    }
    quantities: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for account_id, purpose, code, kind, balance in _rows(_BALANCES, [at, ids]):
        valuation = result[account_id]
        if kind == "currency":
            valuation.cash[code] = valuation.cash.get(code, ZERO) + balance
            if purpose == "cash_reserved":
                valuation.cash_reserved[code] = valuation.cash_reserved.get(code, ZERO) + balance
        elif code in instruments:
            quantities[(account_id, instruments[code][0])] += balance
    book = _replay(_rows(_FILLS, [ids, at]))
    prices = closing_prices(at)
    by_id = {iid: (symbol, currency, tick, lot) for iid, symbol, currency, tick, lot in instruments.values()}
    for key in sorted(set(quantities) | set(book), key=lambda k: (k[0], by_id[k[1]][0])):
        account_id, instrument_id = key
        quantity = quantities.get(key, ZERO)
        _, cost, realized = book.get(key, (ZERO, ZERO, ZERO))
        if quantity == 0 and cost == 0 and realized == 0:
            continue
        symbol, currency, tick, lot = by_id[instrument_id]
        price = prices.get(instrument_id)
        market_value = None if price is None else (quantity * price).quantize(QUANTUM, ROUND_HALF_EVEN)
        result[account_id].positions.append(
            PositionValue(
                symbol=symbol,
                instrument_id=instrument_id,
                currency=currency,
                tick_size=tick,
                lot_size=lot,
                quantity=quantity,
                price=price,
                market_value=market_value,
                cost_basis=cost,
                realized_pnl=realized,
            )
        )
    return result


def valuation_as_of(*, at: datetime, account_id: int) -> Valuation:
    return valuations_as_of(at=at, account_ids=[account_id])[account_id]


def accounts_with_activity_before(at: datetime) -> list[int]:
    """The trading accounts with at least one ledger entry posted before ``at``."""
    return [
        row[0]
        for row in _rows(
            "SELECT DISTINCT la.trading_account_id FROM ledger_ledgeraccount la "
            "WHERE la.trading_account_id IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_journalentry e "
            "WHERE e.ledger_account_id = la.id AND e.posted_at < %s) ORDER BY 1",
            [at],
        )
    ]
