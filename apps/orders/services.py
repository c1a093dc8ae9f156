"""Order write services beyond placement: cancel, replace, expire, and booking reports.

Each is one durable transaction (retried on deadlock) that locks the order first, changes it
through the state machine, writes its event and, where a broker must be told, an outbox
instruction that the relay sends after commit. Cancels are never blocked by throttles or halts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.brokers import outbox
from apps.core.db import atomic_with_retry
from apps.core.errors import BusinessRuleViolation
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.selectors import asset_get
from apps.orders import errors, risk_inputs
from apps.orders.events import event
from apps.orders.execution import resize_hold
from apps.orders.locks import lock_order
from apps.orders.models import EventKind, Initiator, Order
from apps.orders.placement import order_place
from apps.orders.risk_inputs import balance_accounts
from apps.orders.state import TERMINAL, Event, Position, Status, next_status
from apps.orders.validation import Terms, check_against_instrument, parse_terms
from apps.risk import checks

if TYPE_CHECKING:
    from apps.users.models import User

__all__ = ["order_cancel", "order_expire", "order_place", "order_replace"]


class RiskRefused(BusinessRuleViolation):
    """A replace whose new terms fail a pre-trade check; ``code`` is the check's reason code."""

    code = "risk_rejected"


def _machine(order: Order) -> Position:
    return Position(Status(order.status), order.quantity, order.filled_quantity, bool(order.broker_order_id))


def _locked(order_id: int) -> Order:
    order = lock_order(order_id)
    if order is None:
        raise errors.OrderNotFound(f"No order {order_id}.")
    return order


def order_cancel(*, actor: User, order_id: int, initiator: str = Initiator.CLIENT, reason: str = "") -> Order:
    """Ask the broker to cancel an open order (202 semantics: the venue confirms later).
    A second request while one is pending changes nothing; a terminal order raises
    ``order_not_cancelable``."""

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status == Status.PENDING_CANCEL:
            return order
        if order.status in TERMINAL:
            raise errors.OrderNotCancelable(f"Order {order.pk} is {order.status} and cannot be canceled.")
        now = timezone.now()
        order.status = next_status(_machine(order), Event.CANCEL_REQUEST)
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
        event(
            order, EventKind.CANCEL_REQUESTED, actor_id=actor.pk, initiator=initiator, at=now, data={"reason": reason}
        ).save()
        outbox.instruction_add(
            order_id=order.pk, broker=order.broker, action="cancel", now=now, payload={"initiator": initiator}
        )
        transaction.on_commit(outbox.kick)
        return order

    return attempt()


def order_replace(
    *, actor: User, order_id: int, quantity: Any = None, limit_price: Any = None, stop_price: Any = None
) -> Order:
    """Ask the broker to change an open order's quantity or prices. A partially filled order
    keeps its filled quantity. The new terms pass the pre-trade checks as if the order were
    not there yet (its hold counts as available); a failed check raises with its reason code
    and nothing changes. If the new terms need more than the hold has, it grows now; what the
    old terms needed beyond the new is released when the venue confirms."""
    order0 = Order.objects.select_related("instrument__asset").filter(pk=order_id).first()
    if order0 is None:
        raise errors.OrderNotFound(f"No order {order_id}.")
    currency = asset_get(order0.instrument.currency)
    balances = balance_accounts(account_id=order0.account_id, instrument=order0.instrument, currency=currency)

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status not in (Status.NEW, Status.PARTIALLY_FILLED):
            raise errors.OrderNotReplaceable(f"Order {order.pk} is {order.status} and cannot be replaced now.")
        terms = _new_terms(order, quantity, limit_price, stop_price)
        check_against_instrument(terms, order.instrument)
        if terms.quantity < order.filled_quantity:
            raise errors.InvalidOrder(
                f"quantity {terms.quantity:f} is below the {order.filled_quantity:f} already filled.", field="quantity"
            )
        locked = ledger_locks.lock_ledger_accounts(a.pk for a in balances.values())
        hold = ledger_locks.lock_hold(order.hold_id) if order.hold_id else None
        now = timezone.now()
        snapshot = risk_inputs.snapshot(
            account_id=order.account_id,
            instrument=order.instrument,
            currency=currency,
            balances=balances,
            locked=locked,
            now=now,
            replacing=order,
            replacing_hold=hold.remaining if hold else Decimal(0),
        )
        leaves = terms.quantity - order.filled_quantity
        decision = checks.evaluate(
            checks.OrderIntent(terms.side, terms.type, leaves, terms.limit_price, terms.stop_price), snapshot
        )
        failure = decision.first_failure
        if failure is not None and leaves > 0:
            raise RiskRefused(
                f"The new terms fail the pre-trade check {failure.code}: {failure.detail}", code=failure.code
            )
        grown = Decimal(0)
        if hold is not None and leaves > 0 and decision.hold_amount > hold.remaining:
            grown = decision.hold_amount - hold.remaining
            ledger_ops.hold_increase_locked(
                accounts=locked,
                hold=hold,
                amount=grown,
                actor_id=actor.pk,
                idempotency_key=f"order-hold-increase:{order.pk}:{hold.amount:f}+{grown:f}",
                memo=f"replace of order {order.pk}",
            )
        order.status = next_status(_machine(order), Event.REPLACE_REQUEST)
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
        payload = {"quantity": terms.quantity, "limit_price": terms.limit_price, "stop_price": terms.stop_price}
        event(
            order,
            EventKind.REPLACE_REQUESTED,
            actor_id=actor.pk,
            initiator=Initiator.CLIENT,
            at=now,
            data={**payload, "hold_increase": grown, "checks": [c.as_dict() for c in decision.checks]},
        ).save()
        outbox.instruction_add(order_id=order.pk, broker=order.broker, action="replace", now=now, payload=payload)
        transaction.on_commit(outbox.kick)
        return order

    return attempt()


def _new_terms(order: Order, quantity: Any, limit_price: Any, stop_price: Any) -> Terms:
    if quantity is None and limit_price is None and stop_price is None:
        raise errors.InvalidOrder("Nothing to replace: give quantity, limit_price or stop_price.")
    return parse_terms(
        side=order.side,
        type=order.type,
        time_in_force=order.time_in_force,
        quantity=order.quantity if quantity is None else quantity,
        limit_price=order.limit_price if limit_price is None else limit_price,
        stop_price=order.stop_price if stop_price is None else stop_price,
    )


def order_expire(*, actor: User, order_id: int, initiator: str = Initiator.EXPIRY) -> Order:
    """Expire an open order here (DAY orders at the session close), release what its hold still
    reserves, and tell the broker to stop working it. A fill that still arrives is booked and
    flagged for review."""

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status in TERMINAL:
            return order
        now = timezone.now()
        order.status = next_status(_machine(order), Event.EXPIRE)
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
        resize_hold(order, actor.pk)
        event(order, EventKind.EXPIRED, actor_id=actor.pk, initiator=initiator, at=now).save()
        if order.broker:
            outbox.instruction_add(
                order_id=order.pk, broker=order.broker, action="cancel", now=now, payload={"initiator": initiator}
            )
            transaction.on_commit(outbox.kick)
        return order

    return attempt()


def day_orders_expire(*, actor: User, session_close: datetime) -> int:
    """Expire every open DAY order placed before ``session_close``; returns how many."""
    ids = list(
        Order.objects.filter(time_in_force="day", created_at__lt=session_close)
        .exclude(status__in=[s.value for s in TERMINAL])
        .values_list("pk", flat=True)
    )
    for order_id in ids:
        order_expire(actor=actor, order_id=order_id)
    return len(ids)
