"""Booking one execution: the fill's journal transaction (captured from the order's hold), the
fill record, the order's fill figures, the position, what the hold no longer needs, and the
timeline — in the caller's transaction, with the order row already locked.

Lock order: the order row (caller), then its ledger accounts by primary key (client and house),
then its hold, then its position.

Cash is booked at the notional rounded half up to the currency's scale, and the position's cost
basis and realized P&L are computed from the same rounded figures, so that a position's
realized P&L less its cost basis always equals the cash its fills moved.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from apps.brokers.interface import ExecutionReport
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.legs import Leg, fingerprint
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Asset, Hold, JournalTransaction, Purpose, TransactionKind
from apps.ledger.posting import post_locked
from apps.ledger.selectors import asset_get
from apps.ledger.services import ledger_accounts_resolve
from apps.orders import deferred, errors
from apps.orders.events import event
from apps.orders.holds import hold_needed, release_excess
from apps.orders.locks import position_lock
from apps.orders.models import EventKind, Fill, Initiator, Order
from apps.orders.positions import apply_fill
from apps.orders.state import Event, Position, Status, next_status


def cash_of(quantity: Decimal, price: Decimal, scale: int) -> Decimal:
    """The cash a fill moves for its shares: the notional rounded half up to the currency's scale."""
    return (quantity * price).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)


def _post(
    order: Order,
    broker: str,
    report: ExecutionReport,
    actor_id: int,
    *,
    currency: Asset,
    notional: Decimal,
    fee: Decimal,
    keep: Decimal,
) -> tuple[JournalTransaction, dict[int, LockedAccount], Hold | None]:
    """The fill's journal transaction: shares and cash between the client and the street, the
    commission to fee income (a rebate from it), captured from the order's hold as far as the
    hold holds more than ``keep`` (what it must still reserve once this fill is booked); the rest
    from available. A fill dearer than its hold reserved for it (a fill under terms a replace has
    since lowered, a market order above its estimate) so never leaves the order's outstanding
    units uncovered (found by the simulation, seed 133477991)."""
    quantity = report.last_quantity
    instrument = order.instrument
    owner = order.account_id
    resolved = ledger_accounts_resolve(
        [
            (owner, Purpose.CASH_AVAILABLE, currency),
            (owner, Purpose.CASH_RESERVED, currency),
            (owner, Purpose.POSITION_AVAILABLE, instrument.asset),
            (owner, Purpose.POSITION_RESERVED, instrument.asset),
            (None, Purpose.STREET, currency),
            (None, Purpose.STREET, instrument.asset),
            (None, Purpose.FEE_INCOME, currency),
        ]
    )
    street_cash = resolved[(None, Purpose.STREET, currency.pk)]
    street_shares = resolved[(None, Purpose.STREET, instrument.asset_id)]
    fee_income = resolved[(None, Purpose.FEE_INCOME, currency.pk)]
    cash = resolved[(owner, Purpose.CASH_AVAILABLE, currency.pk)]
    shares = resolved[(owner, Purpose.POSITION_AVAILABLE, instrument.asset_id)]
    accounts = ledger_locks.lock_ledger_accounts(a.pk for a in resolved.values())
    hold = ledger_locks.lock_hold(order.hold_id) if order.hold_id else None

    if order.side == "buy":
        owed = notional + fee  # cash the client pays (less for a rebate)
        legs = {street_cash.pk: notional, fee_income.pk: fee, shares.pk: quantity, street_shares.pk: -quantity}
        from_hold, shortfall_account = _from_hold(hold, owed, keep), cash.pk
        shortfall = owed - from_hold
    else:
        legs = {street_shares.pk: quantity, street_cash.pk: -notional, fee_income.pk: fee, cash.pk: notional - fee}
        from_hold, shortfall_account = _from_hold(hold, quantity, keep), shares.pk
        shortfall = quantity - from_hold
    if shortfall:
        legs[shortfall_account] = legs.get(shortfall_account, Decimal(0)) - shortfall
    other = [Leg(k, v) for k, v in legs.items() if v != 0]
    key = f"fill:{broker}:{report.exec_id}"
    memo = f"{order.side} {quantity:f} {instrument.symbol} @ {report.last_price:f} (order {order.pk})"
    if from_hold > 0:
        assert hold is not None
        txn = ledger_ops.hold_settle_locked(
            accounts=accounts,
            hold=hold,
            amount=from_hold,
            other_legs=other,
            kind=TransactionKind.FILL,
            idempotency_key=key,
            fingerprint_value=fingerprint(TransactionKind.FILL, other, hold_id=hold.pk),
            actor_id=actor_id,
            memo=memo,
            reference=f"order {order.pk}",
        )
    else:
        txn = post_locked(
            accounts=accounts,
            legs=other,
            kind=TransactionKind.FILL,
            idempotency_key=key,
            fingerprint=fingerprint(TransactionKind.FILL, other),
            actor_id=actor_id,
            memo=memo,
            reference=f"order {order.pk}",
        )
    return txn, accounts, hold


def _from_hold(hold: Hold | None, wanted: Decimal, keep: Decimal) -> Decimal:
    if hold is None or hold.status != "active" or wanted <= 0:
        return Decimal(0)
    return min(max(hold.remaining - keep, Decimal(0)), wanted)


def book_fill(order: Order, broker: str, report: ExecutionReport, actor_id: int, now: datetime) -> None:
    """Book one (partial) fill of the locked ``order``."""
    quantity, price = report.last_quantity, report.last_price
    if price is None or price <= 0:
        raise errors.InvalidOrder(f"Fill {report.exec_id} has no price.")
    before = Status(order.status)
    machine = Position(before, order.quantity, order.filled_quantity, bool(order.broker_order_id))
    new_status = next_status(machine, Event.FILL, fill_quantity=quantity)
    late = before in (Status.CANCELED, Status.EXPIRED)
    currency = asset_get(order.instrument.currency)
    scale = currency.scale
    notional = cash_of(quantity, price, scale)
    fee = report.fee.quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)
    order.filled_quantity += quantity
    order.filled_notional += quantity * price
    order.average_fill_price = (order.filled_notional / order.filled_quantity).quantize(Decimal("0.00000001"))
    order.fees += fee
    order.venue_cumulative_quantity = max(order.venue_cumulative_quantity, order.filled_quantity)
    order.status = new_status
    if order.status == Status.FILLED:
        order.pending_replace = None  # nothing is left to replace
    order.needs_review = order.needs_review or late
    keep = hold_needed(order, scale)  # with this fill counted
    txn, accounts, hold = _post(
        order, broker, report, actor_id, currency=currency, notional=notional, fee=fee, keep=keep
    )
    deferred.add_fill(
        Fill(
            order=order,
            broker=broker,
            exec_id=report.exec_id,
            quantity=quantity,
            price=price,
            fee=fee,
            executed_at=report.broker_time or now,
            booked_at=now,
            transaction=txn,
            late=late,
        )
    )
    order.updated_at = now
    deferred.save_order(order)
    position = position_lock(account_id=order.account_id, instrument_id=order.instrument_id, now=now)
    realized = apply_fill(position, side=order.side, quantity=quantity, cash=notional, fee=fee, now=now)
    if hold is not None:
        release_excess(order, hold, accounts, actor_id, scale=scale)
    kind = EventKind.FILLED if order.filled_quantity == order.quantity else EventKind.PARTIALLY_FILLED
    timeline = event(
        order,
        kind,
        actor_id=actor_id,
        initiator=Initiator.VENUE,
        broker_at=report.broker_time,
        at=now,
        data={
            "exec_id": report.exec_id,
            "quantity": quantity,
            "price": price,
            "fee": fee,
            "transaction_id": txn.pk,
            "cumulative_quantity": order.filled_quantity,
            "leaves_quantity": order.quantity - order.filled_quantity,
            "late": late,
            "realized_pnl": realized,
        },
    )
    deferred.add_event(timeline)
