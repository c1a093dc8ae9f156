"""Accepting or rejecting the orders of a batch under the balance locks it holds, set-wise.

``Acceptance`` decides each order in memory, in request order: the risk decision against the
batch's running inputs (``BatchInputs``) and the locked balances as the earlier holds of the batch
left them, the hold checked and counted in (``HoldReservations``). ``write`` then stores the whole
batch in a constant number of statements: the holds' journal postings (one), the holds (one), the
orders (one), their two events each (one), the routing instructions (one).
(``apps.orders.batch`` owns the transaction, the locks and the replays.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.accounts.models import TradingAccount
from apps.brokers import outbox
from apps.core import context
from apps.instruments.models import Instrument
from apps.ledger.batching import HoldReservations
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Asset, LedgerAccount, Purpose
from apps.orders.events import event
from apps.orders.models import EventKind, Initiator, Order, OrderEvent
from apps.orders.risk_inputs import BatchInputs
from apps.orders.state import Status
from apps.orders.validation import Terms
from apps.risk import checks

if TYPE_CHECKING:
    from apps.users.models import User


@dataclass
class _Decided:
    order: Order
    risk_data: dict[str, Any]
    hold: int | None  # its position among the batch's hold reservations
    actor_id: int
    context: context.RequestContext  # whose request it was (a group commit carries many)


@dataclass
class Acceptance:
    """The orders of one batch, decided one by one and written together. Each order is
    attributed to its own actor and unit of work (correlation id, source address): the caller
    binds the order's context around ``decide``."""

    locked: dict[int, LockedAccount]
    inputs: BatchInputs
    brokers: dict[int, str]
    holds: HoldReservations = field(init=False)
    decided: list[_Decided] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.holds = HoldReservations(self.locked)

    @property
    def now(self) -> datetime:
        return self.inputs.now

    def decide(
        self,
        *,
        actor: User,
        account: TradingAccount,
        instrument: Instrument,
        terms: Terms,
        coid: str,
        fp: str,
        balances: dict[str, LedgerAccount],
        currency: Asset,
    ) -> Order:
        """Decide one order (its hold counted in, nothing written yet); the unsaved order."""
        now = self.now
        snapshot = self.inputs.snapshot(
            account_id=account.pk, instrument=instrument, currency=currency, balances=balances, locked=self.locked
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
        hold = None
        if failure is None:
            order.broker = self.brokers[account.pk]
            available, reserved = (
                (balances[Purpose.CASH_AVAILABLE], balances[Purpose.CASH_RESERVED])
                if terms.side == "buy"
                else (balances[Purpose.POSITION_AVAILABLE], balances[Purpose.POSITION_RESERVED])
            )
            hold = self.holds.reserve(
                available_id=available.pk,
                reserved_id=reserved.pk,
                amount=decision.hold_amount,
                idempotency_key=f"order-hold:{account.pk}:{coid}",
                actor_id=actor.pk,
                reference=f"order {account.number}/{coid}",
                memo=f"{terms.side} {terms.quantity:f} {instrument.symbol}",
            )
        order.replayed = False  # type: ignore[attr-defined]
        self.decided.append(_Decided(order, risk_data, hold, actor.pk, context.current()))
        self.inputs.count(order)
        return order

    def write(self) -> None:
        """Store every decided order: holds, orders, events, instructions (five statements)."""
        if not self.decided:
            return
        holds = self.holds.write()
        for item in self.decided:
            if item.hold is not None:
                item.order.hold = holds[item.hold]
        Order.objects.bulk_create([item.order for item in self.decided])
        events: list[OrderEvent] = []
        for item in self.decided:
            with context.bind(item.context):
                events += self._events(item)
        OrderEvent.objects.bulk_create(events)
        accepted = [(item.order.pk, item.order.broker) for item in self.decided if item.hold is not None]
        if accepted:
            outbox.instructions_add(orders=accepted, action="submit", now=self.now)

    def _events(self, item: _Decided) -> list[OrderEvent]:
        order = item.order
        received = event(
            order,
            EventKind.RECEIVED,
            actor_id=item.actor_id,
            initiator=Initiator.CLIENT,
            at=self.now,
            data={
                "symbol": order.instrument.symbol,
                "side": order.side,
                "type": order.type,
                "quantity": order.quantity,
                "limit_price": order.limit_price,
                "stop_price": order.stop_price,
                "time_in_force": order.time_in_force,
                "client_order_id": order.client_order_id,
            },
        )
        received.status_after = Status.PENDING_NEW
        decided = event(
            order,
            EventKind.RISK_ACCEPTED if order.status != Status.REJECTED else EventKind.RISK_REJECTED,
            actor_id=item.actor_id,
            initiator=Initiator.SYSTEM,
            at=self.now,
            data=item.risk_data,
        )
        return [received, decided]
