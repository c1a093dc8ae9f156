"""Gathering what the pre-trade checks read, under the account's balance locks.

Everything that can change while an order waits for the locks is read after taking them:
account status, instrument state and reference price, trading states, restrictions,
limits, activity and balances. A replace is checked as if its order were not there yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from apps.instruments.models import Instrument
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Asset, LedgerAccount, Purpose
from apps.ledger.services import ledger_accounts_for
from apps.orders.models import Order
from apps.orders.selectors import account_activity
from apps.risk import checks
from apps.risk.selectors import risk_context

_STATE = """
SELECT a.status, i.active, r.price, r.as_of
  FROM accounts_tradingaccount a
  JOIN instruments_instrument i ON i.id = %(instrument)s
  LEFT JOIN instruments_referenceprice r ON r.instrument_id = i.id
 WHERE a.id = %(account)s
"""


def balance_accounts(*, account_id: int, instrument: Instrument, currency: Asset) -> dict[str, LedgerAccount]:
    """The four balance rows an order locks: cash and the instrument's position, available and reserved."""
    rows = ledger_accounts_for(
        trading_account_id=account_id,
        wanted=[
            (Purpose.CASH_AVAILABLE, currency),
            (Purpose.CASH_RESERVED, currency),
            (Purpose.POSITION_AVAILABLE, instrument.asset),
            (Purpose.POSITION_RESERVED, instrument.asset),
        ],
    )
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
    with connection.cursor() as cursor:
        cursor.execute(_STATE, {"account": account_id, "instrument": instrument.pk})
        status, active, price, as_of = cursor.fetchone()
    cash = locked[balances[Purpose.CASH_AVAILABLE].pk].balance
    shares = locked[balances[Purpose.POSITION_AVAILABLE].pk].balance
    shares_reserved = locked[balances[Purpose.POSITION_RESERVED].pk].balance
    activity = account_activity(account_id=account_id, instrument_id=instrument.pk, now=now)
    adjust: dict[str, Any] = {}
    if replacing is not None:  # check the new terms as if the order were not there yet
        leaves = replacing.quantity - replacing.filled_quantity
        adjust = {
            "open_orders": activity.open_orders - 1,
            "daily_notional": activity.daily_notional - replacing.notional_estimate,
            "open_buy_quantity": activity.open_buy_quantity - (leaves if replacing.side == "buy" else 0),
        }
        if replacing.side == "buy":
            cash += replacing_hold
        else:
            shares += replacing_hold
    states, restricted, limits = risk_context(account_id=account_id, instrument_id=instrument.pk)
    return checks.Snapshot(
        account_status=status,
        instrument_active=active,
        currency_scale=currency.scale,
        states=states,
        restricted=restricted,
        limits=limits,
        reference_price=price,
        reference_at=as_of,
        now=now,
        cash_available=cash,
        position_available=shares,
        position_total=shares + shares_reserved,
        open_orders=adjust.get("open_orders", activity.open_orders),
        orders_last_second=activity.orders_last_second,
        daily_notional=adjust.get("daily_notional", activity.daily_notional),
        open_buy_quantity=adjust.get("open_buy_quantity", activity.open_buy_quantity),
    )
