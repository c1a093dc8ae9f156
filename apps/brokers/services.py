"""Broker write services for staff: an account's route, pausing a broker, and closing an order
the venue never got.

Each is one durable transaction; the venue is asked, where it must be, before it opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from apps.brokers import registry
from apps.brokers.interface import ExecType
from apps.brokers.models import AccountRoute, BrokerControl
from apps.brokers.sinks import order_side
from apps.core.db import atomic_with_retry
from apps.core.errors import BusinessRuleViolation, ValidationError
from apps.orders import errors as order_errors
from apps.orders.models import Order
from apps.orders.services import order_close_unrouted

if TYPE_CHECKING:
    from apps.users.models import User


class VenueHasOrder(BusinessRuleViolation):
    code = "venue_has_order"


class VenueUnreachable(BusinessRuleViolation):
    code = "venue_unreachable"


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("A reason is required.", field="reason")
    return reason.strip()


def _set_paused(*, actor: User, broker: str, paused: bool, reason: Any) -> BrokerControl:
    registry.plugin_spec(broker)  # unknown_broker for a broker that is not enabled
    text = _reason(reason)

    @atomic_with_retry()
    def attempt() -> BrokerControl:
        control = BrokerControl.objects.select_for_update().filter(broker=broker).first()
        now = timezone.now()
        if control is None:
            control = BrokerControl(broker=broker)
        control.paused, control.reason, control.changed_by, control.changed_at = paused, text, actor, now
        control.save()  # audited (django-auditlog)
        return control

    return attempt()


def account_route_set(*, actor: User, account_id: int, broker: str) -> AccountRoute:
    """Route the account's new orders to ``broker`` (an enabled one: ``unknown_broker``
    otherwise). Orders already sent stay with their broker. Audited (auditlog)."""
    try:
        registry.plugin_spec(broker)
    except registry.UnknownBroker as exc:
        raise registry.UnknownBroker(exc.detail, broker=broker, field="broker") from None

    @atomic_with_retry()
    def attempt() -> AccountRoute:
        route = AccountRoute.objects.select_for_update().filter(account_id=account_id).first()
        if route is None:
            route = AccountRoute(account_id=account_id)
        route.broker = broker
        route.save()
        return route

    return attempt()


def account_route_clear(*, actor: User, account_id: int) -> None:
    """The account's new orders go to ``DEFAULT_BROKER`` again. Idempotent."""

    @atomic_with_retry()
    def attempt() -> None:
        for route in AccountRoute.objects.select_for_update().filter(account_id=account_id):
            route.delete()  # one by one: auditlog sees each

    attempt()


def broker_pause(*, actor: User, broker: str, reason: Any) -> BrokerControl:
    """Stop relaying to ``broker``: its instructions wait in the outbox until it is resumed."""
    return _set_paused(actor=actor, broker=broker, paused=True, reason=reason)


def broker_resume(*, actor: User, broker: str, reason: Any) -> BrokerControl:
    """Relay to ``broker`` again (cancels first)."""
    return _set_paused(actor=actor, broker=broker, paused=False, reason=reason)


def order_close_dead(*, actor: User, order_id: int, reason: Any) -> Order:
    """Close an open order whose submit was dead-lettered, after its venue confirms that it has no
    such order: the order ends canceled by the firm and its hold is released
    (``apps.orders.services.order_close_unrouted``). Refused if the venue has the order, or
    cannot be asked."""
    text = _reason(reason)
    order = Order.objects.select_related("account", "instrument").filter(pk=order_id).first()
    if order is None:
        raise order_errors.OrderNotFound(f"No order {order_id}.")
    if not order.broker:
        raise order_errors.OrderNotCancelable(f"Order {order.pk} was never routed.")
    try:
        reports = list(registry.get_adapter(order.broker).order_status(order_side().ticket_for(order)))
    except Exception as exc:
        raise VenueUnreachable(f"{order.broker} could not be asked about order {order.pk}: {exc}") from exc
    held = [r for r in reports if r.exec_type not in (ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED)]
    if held:
        raise VenueHasOrder(
            f"{order.broker} has order {order.pk} ({held[-1].exec_type}): cancel it at the venue instead.",
            order_id=order.pk,
        )
    evidence = {"broker": order.broker, "checked_at": timezone.now(), "reports": len(reports)}
    return order_close_unrouted(actor=actor, order_id=order.pk, reason=text, evidence=evidence)
