"""Accepting or rejecting one order under the balance locks its batch holds: the risk decision,
the order, its hold, its timeline and its routing instruction (``apps.orders.batch`` owns the
transaction, the locks and the replays)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.brokers import outbox
from apps.instruments.models import Instrument
from apps.ledger import operations as ledger_ops
from apps.ledger.models import Asset, LedgerAccount, Purpose
from apps.orders import risk_inputs
from apps.orders.events import event
from apps.orders.models import EventKind, Initiator, Order, OrderEvent
from apps.orders.state import Status
from apps.orders.validation import Terms
from apps.risk import checks

if TYPE_CHECKING:
    from apps.users.models import User


def place_locked(
    *,
    actor: User,
    account: TradingAccount,
    instrument: Instrument,
    terms: Terms,
    coid: str,
    fp: str,
    locked: dict[int, Any],
    balances: dict[str, LedgerAccount],
    currency: Asset,
) -> Order:
    """Place one order under the locks its batch holds (the caller kicks the relay after commit)."""
    now = timezone.now()
    snapshot = risk_inputs.snapshot(
        account_id=account.pk, instrument=instrument, currency=currency, balances=balances, locked=locked, now=now
    )
    intent = checks.OrderIntent(terms.side, terms.type, terms.quantity, terms.limit_price, terms.stop_price)
    decision = checks.evaluate(intent, snapshot)
    failure = decision.first_failure
    order = Order(
        account=account,
        instrument=instrument,
        side=terms.side,
        type=terms.type,
        quantity=terms.quantity,
        limit_price=terms.limit_price,
        stop_price=terms.stop_price,
        time_in_force=terms.time_in_force,
        client_order_id=coid,
        fingerprint=fp,
        created_at=now,
        updated_at=now,
        notional_estimate=decision.notional_estimate if failure is None else Decimal(0),
        price_estimate=decision.price_estimate if failure is None else None,
        status=Status.PENDING_NEW if failure is None else Status.REJECTED,
        reject_reason=failure.code if failure else "",
        reject_detail=failure.detail if failure else "",
    )
    risk_data = {
        "checks": [c.as_dict() for c in decision.checks],
        "reference_price": snapshot.reference_price,
        "reference_at": snapshot.reference_at,
        "limits": snapshot.limits,
        "price_estimate": decision.price_estimate,
        "notional_estimate": decision.notional_estimate,
        "fee_estimate": decision.fee_estimate,
    }
    if failure is None:
        order.broker = outbox.broker_for(account.pk)
        available, reserved = (
            (balances[Purpose.CASH_AVAILABLE], balances[Purpose.CASH_RESERVED])
            if terms.side == "buy"
            else (balances[Purpose.POSITION_AVAILABLE], balances[Purpose.POSITION_RESERVED])
        )
        order.hold = ledger_ops.hold_reserve_locked(
            accounts=locked,
            available_id=available.pk,
            reserved_id=reserved.pk,
            amount=decision.hold_amount,
            idempotency_key=f"order-hold:{account.pk}:{coid}",
            actor_id=actor.pk,
            reference=f"order {account.number}/{coid}",
            memo=f"{terms.side} {terms.quantity:f} {instrument.symbol}",
        )
    order.save(force_insert=True)
    received = event(
        order,
        EventKind.RECEIVED,
        actor_id=actor.pk,
        initiator=Initiator.CLIENT,
        at=now,
        data={
            "symbol": instrument.symbol,
            "side": terms.side,
            "type": terms.type,
            "quantity": terms.quantity,
            "limit_price": terms.limit_price,
            "stop_price": terms.stop_price,
            "time_in_force": terms.time_in_force,
            "client_order_id": coid,
        },
    )
    received.status_after = Status.PENDING_NEW
    decided = event(
        order,
        EventKind.RISK_ACCEPTED if failure is None else EventKind.RISK_REJECTED,
        actor_id=actor.pk,
        initiator=Initiator.SYSTEM,
        at=now,
        data=risk_data,
    )
    OrderEvent.objects.bulk_create([received, decided])
    if failure is None:
        outbox.instruction_add(order_id=order.pk, broker=order.broker, action="submit", now=now)
    order.replayed = False  # type: ignore[attr-defined]
    return order
