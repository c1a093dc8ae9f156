"""Applying a broker's execution report to an order: the state machine, the hold, the fill's
journal transaction, the position, and the timeline — in the caller's transaction.

Lock order: the order row, then its ledger accounts by primary key (client and house), then
its hold, then its position.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from apps.brokers.interface import ExecType, ExecutionReport
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.legs import Leg, fingerprint
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Hold, JournalTransaction, Purpose, TransactionKind
from apps.ledger.posting import post_locked
from apps.ledger.selectors import asset_get
from apps.ledger.services import ledger_accounts_resolve
from apps.orders import errors
from apps.orders.events import event
from apps.orders.locks import lock_order
from apps.orders.models import EventKind, Fill, Initiator, Order, OrderEvent
from apps.orders.positions import apply_fill, position_lock
from apps.orders.state import TERMINAL, Event, Position, Status, next_status

_EVENTS = {
    ExecType.NEW: (Event.ACKNOWLEDGE, EventKind.ACKNOWLEDGED),
    ExecType.REJECTED: (Event.REJECT, EventKind.BROKER_REJECTED),
    ExecType.CANCELED: (Event.CANCELED, EventKind.CANCELED),
    ExecType.EXPIRED: (Event.EXPIRE, EventKind.EXPIRED),
    ExecType.CANCEL_REJECTED: (Event.CANCEL_REJECT, EventKind.CANCEL_REJECTED),
    ExecType.REPLACED: (Event.REPLACED, EventKind.REPLACED),
    ExecType.REPLACE_REJECTED: (Event.REPLACE_REJECT, EventKind.REPLACE_REJECTED),
}


def _machine(order: Order) -> Position:
    return Position(Status(order.status), order.quantity, order.filled_quantity, bool(order.broker_order_id))


def apply_report(*, broker: str, report: ExecutionReport, actor_id: int) -> Order:
    """Apply one report (the caller records it and provides the transaction)."""
    order = lock_order(report.order_id)
    if order is None:
        raise errors.OrderNotFound(f"No order {report.order_id} for {broker} report {report.exec_id}.")
    if order.broker and order.broker != broker:
        raise errors.InvalidOrder(f"Order {order.pk} routes to {order.broker}, not {broker}.")
    now = timezone.now()
    data: dict[str, Any] = {"exec_id": report.exec_id, "exec_type": report.exec_type, "text": report.text}
    if report.broker_order_id and not order.broker_order_id:
        order.broker_order_id = report.broker_order_id
    if report.exec_type in (ExecType.PARTIAL_FILL, ExecType.FILL):
        _book_fill(order, broker, report, actor_id, now)
        return order
    machine_event, kind = _EVENTS[report.exec_type]
    before = Status(order.status)
    if report.exec_type == ExecType.REPLACED:
        if report.quantity is not None:
            order.quantity = max(report.quantity, order.filled_quantity)
        order.limit_price = report.limit_price if report.limit_price is not None else order.limit_price
        order.stop_price = report.stop_price if report.stop_price is not None else order.stop_price
        data.update(quantity=order.quantity, limit_price=order.limit_price, stop_price=order.stop_price)
    order.status = next_status(_machine(order), machine_event)
    if order.status == Status.REJECTED:
        order.reject_reason, order.reject_detail = "broker_rejected", report.text
    initiator = _initiator(order) if report.exec_type == ExecType.CANCELED else Initiator.VENUE
    order.updated_at = now
    order.save()
    if (order.status in TERMINAL and before not in TERMINAL) or report.exec_type in (
        ExecType.REPLACED,
        ExecType.REPLACE_REJECTED,
    ):
        resize_hold(order, actor_id)
    event(order, kind, actor_id=actor_id, initiator=initiator, data=data, broker_at=report.broker_time, at=now).save()
    return order


def _initiator(order: Order) -> str:
    """Who asked for the cancel the venue confirmed: the last cancel request's initiator, else the venue."""
    last = (
        OrderEvent.objects.filter(order=order, kind=EventKind.CANCEL_REQUESTED)
        .order_by("-id")
        .values_list("initiator", flat=True)
        .first()
    )
    return last or Initiator.VENUE


def hold_needed(order: Order) -> Decimal:
    """What the order's hold should still reserve for its open quantity."""
    from apps.risk.checks import fee_estimate

    if order.status in TERMINAL:
        return Decimal(0)
    leaves = order.quantity - order.filled_quantity
    if order.side == "sell":
        return leaves
    scale = asset_get(order.instrument.currency).scale
    price = order.limit_price or (order.notional_estimate / order.quantity)
    quantum = Decimal(1).scaleb(-scale)
    return (leaves * price).quantize(quantum, ROUND_HALF_UP) + fee_estimate(leaves, scale)


def resize_hold(order: Order, actor_id: int) -> None:
    """Release what the hold reserves beyond what the order still needs (never grows it here)."""
    if order.hold_id is None:
        return
    hold = order.hold
    assert hold is not None
    accounts = ledger_locks.lock_ledger_accounts([hold.available_account_id, hold.reserved_account_id])
    locked = ledger_locks.lock_hold(hold.pk)
    assert locked is not None
    excess = locked.remaining - min(hold_needed(order), locked.remaining)
    if excess > 0:
        ledger_ops.hold_release_locked(
            accounts=accounts,
            hold=locked,
            amount=excess,
            actor_id=actor_id,
            idempotency_key=f"order-release:{order.pk}:{locked.remaining:f}->{locked.remaining - excess:f}",
            memo=f"release for order {order.pk} ({order.status})",
        )


def _post_fill(
    order: Order, broker: str, report: ExecutionReport, actor_id: int
) -> tuple[JournalTransaction, dict[int, LockedAccount], Hold | None, Decimal]:
    """The fill's journal transaction: shares and cash between the client and the street, the
    commission to fee income, captured from the order's hold (any shortfall from available)."""
    quantity, price = report.last_quantity, report.last_price
    assert price is not None
    instrument = order.instrument
    currency = asset_get(instrument.currency)
    quantum = Decimal(1).scaleb(-currency.scale)
    notional = (quantity * price).quantize(quantum, ROUND_HALF_UP)
    fee = report.fee.quantize(quantum, ROUND_HALF_UP)
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
    ids = [a.pk for a in resolved.values()]
    accounts = ledger_locks.lock_ledger_accounts(ids)
    hold = ledger_locks.lock_hold(order.hold_id) if order.hold_id else None

    if order.side == "buy":
        owed = notional + fee  # cash the client pays
        legs = {street_cash.pk: notional, fee_income.pk: fee, shares.pk: quantity, street_shares.pk: -quantity}
        from_hold, shortfall_account = _from_hold(hold, owed), cash.pk
        shortfall = owed - from_hold
    else:
        legs = {street_shares.pk: quantity, street_cash.pk: -notional, fee_income.pk: fee, cash.pk: notional - fee}
        from_hold, shortfall_account = _from_hold(hold, quantity), shares.pk
        shortfall = quantity - from_hold
    if shortfall:
        legs[shortfall_account] = legs.get(shortfall_account, Decimal(0)) - shortfall
    other = [Leg(k, v) for k, v in legs.items() if v != 0]
    key = f"fill:{broker}:{report.exec_id}"
    memo = f"{order.side} {quantity:f} {instrument.symbol} @ {price:f} (order {order.pk})"
    if from_hold:
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
    return txn, accounts, hold, fee


def _book_fill(order: Order, broker: str, report: ExecutionReport, actor_id: int, now: Any) -> None:
    quantity = report.last_quantity
    if report.last_price is None or report.last_price <= 0:
        raise errors.InvalidOrder(f"Fill {report.exec_id} has no price.")
    price = report.last_price
    before = Status(order.status)
    new_status = next_status(_machine(order), Event.FILL, fill_quantity=quantity)
    late = before in (Status.CANCELED, Status.EXPIRED)
    instrument = order.instrument
    txn, accounts, hold, fee = _post_fill(order, broker, report, actor_id)
    executed_at = report.broker_time or now
    Fill.objects.create(
        order=order,
        broker=broker,
        exec_id=report.exec_id,
        quantity=quantity,
        price=price,
        fee=fee,
        executed_at=executed_at,
        booked_at=now,
        transaction=txn,
        late=late,
    )
    order.filled_quantity += quantity
    order.filled_notional += quantity * price
    order.average_fill_price = (order.filled_notional / order.filled_quantity).quantize(Decimal("0.00000001"))
    order.fees += fee
    order.status = new_status
    order.needs_review = order.needs_review or late
    order.updated_at = now
    order.save()
    position = position_lock(account_id=order.account_id, instrument_id=instrument.pk, now=now)
    realized = apply_fill(position, side=order.side, quantity=quantity, price=price, fee=fee, now=now)
    if order.status in TERMINAL and hold is not None:
        ledger_ops.hold_release_locked(
            accounts=accounts,
            hold=hold,
            amount=None,
            actor_id=actor_id,
            idempotency_key=f"order-release:{order.pk}:final",
            memo=f"order {order.pk} {order.status}",
        )
    kind = EventKind.FILLED if order.filled_quantity == order.quantity else EventKind.PARTIALLY_FILLED
    event(
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
    ).save()


def _from_hold(hold: Hold | None, wanted: Decimal) -> Decimal:
    if hold is None or hold.status != "active":
        return Decimal(0)
    return min(hold.remaining, wanted)


__all__ = ["apply_report", "hold_needed", "resize_hold"]
