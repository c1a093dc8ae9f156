"""Gathering what the pre-trade checks read, under the account's balance locks.

Everything that can change while an order waits for the locks is read after taking them:
account status, instrument state and reference price, trading states, restrictions,
limits, activity and balances. A replace is checked as if its order were not there yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.db import connection

from apps.instruments.models import Instrument
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Asset, LedgerAccount, Purpose
from apps.ledger.services import ledger_accounts_for
from apps.orders.calendar import last_close
from apps.orders.models import Order
from apps.orders.selectors import activities
from apps.risk import checks
from apps.risk.selectors import risk_contexts


def balance_kinds(instrument: Instrument, currency: Asset) -> list[tuple[str, Asset]]:
    """The four balance rows an order locks: cash and the instrument's position, available and reserved."""
    return [
        (Purpose.CASH_AVAILABLE, currency),
        (Purpose.CASH_RESERVED, currency),
        (Purpose.POSITION_AVAILABLE, instrument.asset),
        (Purpose.POSITION_RESERVED, instrument.asset),
    ]


def balance_accounts(*, account_id: int, instrument: Instrument, currency: Asset) -> dict[str, LedgerAccount]:
    """The four balance rows of one order (``balance_kinds``), by purpose."""
    rows = ledger_accounts_for(trading_account_id=account_id, wanted=balance_kinds(instrument, currency))
    return {purpose: account for (purpose, _), account in rows.items()}


def snapshot(
    *,
    account_id: int,
    instrument: Instrument,
    currency: Asset,
    balances: Mapping[str, LedgerAccount],
    locked: Mapping[int, LockedAccount],
    now: datetime,
    replacing: Order | None = None,
    replacing_hold: Decimal = Decimal(0),
) -> checks.Snapshot:
    """The checks' inputs for one order (a batch of one), or for ``replacing``'s new terms as if
    the order were not there yet: its count, notional and open quantity left out, its hold
    (``replacing_hold``) back in the available balance."""
    base = BatchInputs([(account_id, instrument.pk)], now).snapshot(
        account_id=account_id, instrument=instrument, currency=currency, balances=balances, locked=locked
    )
    if replacing is None:
        return base
    leaves = replacing.quantity - replacing.filled_quantity
    buy = replacing.side == "buy"
    return dataclasses.replace(
        base,
        open_orders=base.open_orders - 1,
        daily_notional=base.daily_notional - replacing.notional_estimate,
        open_buy_quantity=base.open_buy_quantity - (leaves if buy else 0),
        cash_available=base.cash_available + (replacing_hold if buy else 0),
        position_available=base.position_available + (0 if buy else replacing_hold),
        position_total=base.position_total + (0 if buy else replacing_hold),
    )


_STATES = """
SELECT k.account_id, k.instrument_id, a.status, i.active, r.price, r.as_of, mv.value
  FROM unnest(%(accounts)s::bigint[], %(instruments)s::bigint[]) AS k(account_id, instrument_id)
  JOIN accounts_tradingaccount a ON a.id = k.account_id
  JOIN instruments_instrument i ON i.id = k.instrument_id
  LEFT JOIN instruments_referenceprice r ON r.instrument_id = i.id
 CROSS JOIN LATERAL (
        SELECT coalesce(sum(coalesce(p.quantity * pr.price, p.cost_basis)), 0) AS value FROM orders_position p
          LEFT JOIN instruments_referenceprice pr ON pr.instrument_id = p.instrument_id
         WHERE p.account_id = k.account_id AND p.quantity <> 0) mv
"""


class BatchInputs:
    """What the checks read for a batch of orders, gathered under the batch's locks in three
    queries (states and prices, activity, risk context), then kept running in memory: each order
    decided is counted in, so the next order of the same account sees it as if it were stored.

    Exposure comes with them: the risk context carries each account's latest mark-to-market
    snapshot and the firm's; the states query the account's positions at the reference prices
    now, for an account never marked (its equity is then cash + that value)."""

    def __init__(self, pairs: list[tuple[int, int]], now: datetime) -> None:
        self.now = now
        self.day_start = last_close(now)  # the business day began at the last session close
        self.gross_added = Decimal(0)  # buys accepted in this batch, firm-wide
        pairs = sorted(set(pairs))
        accounts = [p[0] for p in pairs]
        with connection.cursor() as cursor:
            cursor.execute(_STATES, {"accounts": accounts, "instruments": [p[1] for p in pairs]})
            self.states = {(row[0], row[1]): row[2:] for row in cursor.fetchall()}
        self.contexts = risk_contexts(pairs)
        self.open_orders: dict[int, int] = dict.fromkeys(accounts, 0)
        self.last_second: dict[int, int] = dict.fromkeys(accounts, 0)
        self.daily_notional: dict[int, Decimal] = dict.fromkeys(accounts, Decimal(0))
        self.open_buy: dict[tuple[int, int], Decimal] = {}
        for (account, instrument), activity in activities(account_ids=accounts, now=now).items():
            self.open_orders[account] += activity.open_orders
            self.last_second[account] += activity.orders_last_second
            self.daily_notional[account] += activity.daily_notional
            self.open_buy[(account, instrument)] = activity.open_buy_quantity

    def snapshot(
        self,
        *,
        account_id: int,
        instrument: Instrument,
        currency: Asset,
        balances: Mapping[str, LedgerAccount],
        locked: Mapping[int, LockedAccount],
    ) -> checks.Snapshot:
        pair = (account_id, instrument.pk)
        status, active, price, as_of, live_value = self.states[pair]
        context = self.contexts[pair]
        exposure = context.exposure
        shares = locked[balances[Purpose.POSITION_AVAILABLE].pk].balance
        cash = locked[balances[Purpose.CASH_AVAILABLE].pk].balance + locked[balances[Purpose.CASH_RESERVED].pk].balance
        marked_today = exposure.taken_at is not None and (self.day_start is None or exposure.taken_at >= self.day_start)
        return checks.Snapshot(
            account_status=status,
            instrument_active=active,
            currency_scale=currency.scale,
            states=context.states,
            restricted=context.restricted,
            limits=context.limits,
            reference_price=price,
            reference_at=as_of,
            now=self.now,
            cash_available=locked[balances[Purpose.CASH_AVAILABLE].pk].balance,
            position_available=shares,
            position_total=shares + locked[balances[Purpose.POSITION_RESERVED].pk].balance,
            open_orders=self.open_orders[account_id],
            orders_last_second=self.last_second[account_id],
            daily_notional=self.daily_notional[account_id],
            open_buy_quantity=self.open_buy.get(pair, Decimal(0)),
            equity=exposure.equity if exposure.equity is not None else cash + live_value,
            daily_pnl=exposure.daily_pnl if marked_today else Decimal(0),
            firm_gross_exposure=exposure.firm_gross_exposure + self.gross_added,
        )

    def count(self, order: Order) -> None:
        """Count a decided order in, as ``activities`` would count it once stored."""
        account = order.account_id
        self.last_second[account] += 1
        if order.status == "rejected":
            return
        self.open_orders[account] += 1
        self.daily_notional[account] += order.notional_estimate
        if order.side == "buy":
            self.gross_added += order.notional_estimate
            pair = (account, order.instrument_id)
            self.open_buy[pair] = self.open_buy.get(pair, Decimal(0)) + order.quantity
