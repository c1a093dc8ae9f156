"""Order write services beyond placement: cancel, replace, expire, and booking reports.

Each is one durable transaction (retried on deadlock) that locks the order first, changes it
through the state machine, writes its event and, where a broker must be told, an outbox
instruction that the relay sends after commit. Cancels are never blocked by throttles or halts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from apps.brokers import outbox
from apps.core import faults
from apps.core.db import atomic_with_retry
from apps.core.errors import BusinessRuleViolation
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.locks import LockedAccount
from apps.ledger.models import Hold
from apps.ledger.selectors import asset_get
from apps.orders import errors, holds, risk_inputs
from apps.orders.batch import order_place_batch
from apps.orders.events import event
from apps.orders.execution import machine
from apps.orders.holds import Terms as HoldTerms
from apps.orders.holds import resize_hold
from apps.orders.locks import lock_order
from apps.orders.models import EventKind, Initiator, Order
from apps.orders.placement import order_place
from apps.orders.risk_inputs import balance_accounts
from apps.orders.state import TERMINAL, Event, Status, next_status
from apps.orders.validation import Terms, check_against_instrument, parse_terms
from apps.risk import checks

if TYPE_CHECKING:
    from apps.users.models import User

__all__ = [
    "order_cancel",
    "order_close_unrouted",
    "order_expire",
    "order_place",
    "order_place_batch",
    "order_replace",
]


class RiskRefused(BusinessRuleViolation):
    """A replace whose new terms fail a pre-trade check; ``code`` is the check's reason code."""

    code = "risk_rejected"


def _locked(order_id: int) -> Order:
    order = lock_order(order_id)
    if order is None:
        raise errors.OrderNotFound(f"No order {order_id}.")
    return order


def _end_here(order: Order, *, actor_id: int, initiator: str, now: datetime, event_kind: str, data: dict) -> Order:
    """End the locked, open ``order`` here without the venue (it never reached it, or the venue
    confirmed it has no such order): terminal status, the whole hold released, the timeline."""
    target = Event.EXPIRE if event_kind == EventKind.EXPIRED else Event.CANCELED
    order.status = next_status(machine(order), target)
    order.pending_replace = None
    order.updated_at = now
    order.save(update_fields=["status", "pending_replace", "updated_at"])
    resize_hold(order, actor_id)
    event(order, event_kind, actor_id=actor_id, initiator=initiator, at=now, data=data).save()
    return order


def _request_cancel(order: Order, *, actor_id: int, initiator: str, reason: str, now: datetime) -> Order:
    """Ask the venue to cancel the locked, open order: it waits in ``pending_cancel``. An order
    whose submit never left the outbox is ended here at once, and its submit withdrawn."""
    requested = event(
        order, EventKind.CANCEL_REQUESTED, actor_id=actor_id, initiator=initiator, at=now, data={"reason": reason}
    )
    if order.status == Status.PENDING_NEW and outbox.submit_withdraw(order_id=order.pk, now=now):
        requested.save()
        kind = EventKind.EXPIRED if initiator == Initiator.EXPIRY else EventKind.CANCELED
        return _end_here(
            order, actor_id=actor_id, initiator=initiator, now=now, event_kind=kind, data={"withdrawn": True}
        )
    order.status = next_status(machine(order), Event.CANCEL_REQUEST)
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    requested.status_after = order.status
    requested.save()
    outbox.instruction_add(
        order_id=order.pk, broker=order.broker, action="cancel", now=now, payload={"initiator": initiator}
    )
    return order


def order_cancel(*, actor: User, order_id: int, initiator: str = Initiator.CLIENT, reason: str = "") -> Order:
    """Ask the broker to cancel an open order (202 semantics: the venue confirms later). An order
    still waiting in the outbox is canceled here at once. A second request while one is pending
    changes nothing; a terminal order raises ``order_not_cancelable``."""

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status == Status.PENDING_CANCEL:
            return order
        if order.status in TERMINAL:
            raise errors.OrderNotCancelable(f"Order {order.pk} is {order.status} and cannot be canceled.")
        order = _request_cancel(order, actor_id=actor.pk, initiator=initiator, reason=reason, now=timezone.now())
        faults.point("orders.cancel.before_commit")
        return order

    return attempt()


def order_replace(
    *, actor: User, order_id: int, quantity: Any = None, limit_price: Any = None, stop_price: Any = None
) -> Order:
    """Ask the broker to change an open order's quantity or prices. A partially filled order
    keeps its filled quantity. The new terms pass the pre-trade checks as if the order were
    not there yet (its hold counts as available); a failed check raises with its reason code
    and nothing changes. While the venue has not answered, the hold covers the larger of the old
    and the new terms (it grows now if the new need more); the answer releases the rest."""
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
        estimate = terms.limit_price if terms.limit_price is not None else decision.price_estimate
        pending = HoldTerms(terms.quantity, terms.limit_price, estimate or order.price_estimate)
        grown = _grow_hold_for(order, hold, locked, pending, scale=currency.scale, actor_id=actor.pk)
        instruction = outbox.instruction_add(
            order_id=order.pk,
            broker=order.broker,
            action="replace",
            now=now,
            payload={"quantity": terms.quantity, "limit_price": terms.limit_price, "stop_price": terms.stop_price},
        )
        order.pending_replace = {
            "request_id": instruction.request_id,
            "quantity": terms.quantity,
            "limit_price": terms.limit_price,
            "stop_price": terms.stop_price,
            "price_estimate": pending.price_estimate,
        }
        order.status = next_status(machine(order), Event.REPLACE_REQUEST)
        order.updated_at = now
        order.save(update_fields=["status", "pending_replace", "updated_at"])
        event(
            order,
            EventKind.REPLACE_REQUESTED,
            actor_id=actor.pk,
            initiator=Initiator.CLIENT,
            at=now,
            data={
                **order.pending_replace,
                "hold_increase": grown,
                "checks": [c.as_dict() for c in decision.checks],
            },
        ).save()
        faults.point("orders.replace.before_commit")
        return order

    return attempt()


def _grow_hold_for(
    order: Order, hold: Hold | None, locked: dict[int, LockedAccount], pending: HoldTerms, *, scale: int, actor_id: int
) -> Decimal:
    """Grow the locked hold so it covers ``pending`` terms too; refuse if available cannot pay for it."""
    if hold is None or hold.status != "active":
        return Decimal(0)
    grown = holds.need_replacing(order, pending, scale) - hold.remaining
    if grown <= 0:
        return Decimal(0)
    available = locked[hold.available_account_id].balance
    if available < grown:
        code = "insufficient_buying_power" if order.side == "buy" else "insufficient_position"
        raise RiskRefused(f"The new terms need {grown:f} more on hold; {available:f} is available.", code=code)
    ledger_ops.hold_increase_locked(
        accounts=locked,
        hold=hold,
        amount=grown,
        actor_id=actor_id,
        idempotency_key=holds.state_key("hold-increase", hold),
        memo=f"replace of order {order.pk}",
    )
    return grown


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
    """Expire an open order (DAY orders at the session close). An order that never left the
    outbox, or has no broker, expires here at once and its hold is released. Otherwise the venue
    is asked to cancel it and the order waits in ``pending_cancel``: its hold is released only
    when the venue confirms (the order then ends ``expired``), so a fill the venue executed
    before it saw the cancel is still covered. An order already pending cancel is left to that."""

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status in TERMINAL or order.status == Status.PENDING_CANCEL:
            return order
        now = timezone.now()
        if not order.broker:
            return _end_here(
                order, actor_id=actor.pk, initiator=initiator, now=now, event_kind=EventKind.EXPIRED, data={}
            )
        return _request_cancel(order, actor_id=actor.pk, initiator=initiator, reason="session close", now=now)

    return attempt()


def order_close_unrouted(*, actor: User, order_id: int, reason: str, evidence: dict[str, Any]) -> Order:
    """Staff close an open order the venue does not have (its submit was dead-lettered, and the
    caller has confirmed with the venue: ``evidence``): it ends canceled here, by the firm, its
    hold released and its waiting instructions withdrawn; the timeline records who, why and
    the venue's answer. Refused unless the submit is dead or withdrawn."""
    if not isinstance(reason, str) or not reason.strip():
        raise errors.InvalidOrder("A reason is required to close an order.", field="reason")

    @atomic_with_retry()
    def attempt() -> Order:
        order = _locked(order_id)
        if order.status in TERMINAL:
            raise errors.OrderNotCancelable(f"Order {order.pk} is {order.status}: there is nothing to close.")
        submit = outbox.submit_status(order.pk)
        if submit not in ("dead", "withdrawn"):
            raise errors.OrderNotCancelable(
                f"Order {order.pk}'s submit is {submit or 'missing'}: only an order whose submit was "
                "dead-lettered can be closed here; cancel it through the venue."
            )
        now = timezone.now()
        outbox.instructions_withdraw(
            order_id=order.pk, now=now, reason=f"withdrawn: order closed by staff ({reason.strip()})", unknown_too=True
        )
        return _end_here(
            order,
            actor_id=actor.pk,
            initiator=Initiator.FIRM,
            now=now,
            event_kind=EventKind.CANCELED,
            data={"reason": reason.strip(), "closed_by_staff": True, "venue": evidence},
        )

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
