"""Risk write services: the kill switch, the restricted list, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.core.decimals import check_scale, to_decimal
from apps.core.errors import ApplicationError, NotFound, ValidationError
from apps.risk.models import LIMIT_FIELDS, RestrictedInstrument, RiskLimits, Scope, TradingState, TradingStateValue

if TYPE_CHECKING:
    from apps.accounts.models import TradingAccount
    from apps.instruments.models import Instrument
    from apps.users.models import User


def trading_state_set(
    *,
    actor: User,
    state: str,
    reason: str,
    account: TradingAccount | None = None,
    instrument: Instrument | None = None,
) -> TradingState:
    """Set the trading state globally (no target), for one account, or for one instrument.
    Takes effect for the very next order: the placing transaction reads it."""
    if state not in TradingStateValue.values:
        raise ValidationError(f"Unknown trading state {state!r}.", code="invalid_state")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("A reason is required.", code="reason_required")
    if account is not None and instrument is not None:
        raise ValidationError("Set a state for an account or an instrument, not both.", code="invalid_scope")
    scope = Scope.ACCOUNT if account is not None else Scope.INSTRUMENT if instrument is not None else Scope.GLOBAL
    with transaction.atomic(durable=True):
        row, _ = TradingState.objects.select_for_update().update_or_create(
            scope=scope,
            account=account,
            instrument=instrument,
            defaults={"state": state, "reason": reason.strip(), "updated_by": actor, "updated_at": timezone.now()},
        )
    return row


@dataclass(frozen=True)
class KillSwitchResult:
    """What the kill switch did: the state row, and the open orders it asked to cancel."""

    state: TradingState
    canceled: list[int] = field(default_factory=list)
    # Orders that ended (filled, canceled, ...) between the listing and their cancel: (id, code).
    skipped: list[tuple[int, str]] = field(default_factory=list)


def kill_switch_orders(*, account: TradingAccount | None = None, instrument: Instrument | None = None) -> Any:
    """The open orders a kill switch in this scope would cancel (all of them with no target),
    oldest first. Orders already pending cancel are on their way out and are left alone."""
    from apps.orders.models import Order
    from apps.orders.state import OPEN, Status

    statuses = sorted(s.value for s in OPEN if s != Status.PENDING_CANCEL)
    orders = Order.objects.filter(status__in=statuses)
    if account is not None:
        orders = orders.filter(account=account)
    if instrument is not None:
        orders = orders.filter(instrument=instrument)
    return orders.order_by("pk")


def kill_switch_set(
    *,
    actor: User,
    state: str,
    reason: str,
    account: TradingAccount | None = None,
    instrument: Instrument | None = None,
    cancel_open_orders: bool = False,
) -> KillSwitchResult:
    """Halt, reduce or resume trading for the firm (no target), one account or one instrument.

    The state is committed first (``trading_state_set``): from then on the very next order in
    the scope is refused. Then, when halting with ``cancel_open_orders``, every open order in
    the scope is canceled through ``order_cancel`` with the kill switch as initiator and the
    reason recorded on its event, one order per transaction; each cancel reaches its broker
    through the outbox after commit. An order that ended meanwhile is skipped, not an error.
    Bad input (no reason, unknown state, both targets, cancel without halting) changes nothing.
    """
    from apps.orders import errors as order_errors
    from apps.orders.models import Initiator
    from apps.orders.services import order_cancel

    if cancel_open_orders and state != TradingStateValue.HALTED:
        raise ValidationError("Open orders can only be canceled together with a halt.", code="cancel_requires_halt")
    row = trading_state_set(actor=actor, state=state, reason=reason, account=account, instrument=instrument)
    canceled: list[int] = []
    skipped: list[tuple[int, str]] = []
    if cancel_open_orders:
        ids = list(kill_switch_orders(account=account, instrument=instrument).values_list("pk", flat=True))
        for order_id in ids:
            try:
                order_cancel(actor=actor, order_id=order_id, initiator=Initiator.KILL_SWITCH, reason=row.reason)
            except (order_errors.OrderNotCancelable, order_errors.OrderNotFound) as exc:
                skipped.append((order_id, exc.code))
            else:
                canceled.append(order_id)
    return KillSwitchResult(state=row, canceled=canceled, skipped=skipped)


def restricted_instrument_add(
    *, actor: User, instrument: Instrument, reason: str, account: TradingAccount | None = None
) -> RestrictedInstrument:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("A reason is required.", code="reason_required")
    with transaction.atomic(durable=True):
        row, _ = RestrictedInstrument.objects.get_or_create(
            instrument=instrument,
            account=account,
            defaults={"reason": reason.strip(), "created_by": actor, "created_at": timezone.now()},
        )
    return row


def restricted_instrument_remove(*, actor: User, restriction_id: int) -> None:
    with transaction.atomic(durable=True):
        row = RestrictedInstrument.objects.filter(pk=restriction_id).first()
        if row is None:
            raise NotFound("No such restriction.", code="restriction_not_found")
        row.delete()


_COUNT_LIMITS = frozenset({"max_open_orders", "max_orders_per_second", "max_price_age_seconds"})


def _limit_value(name: str, value: Any) -> Decimal | int | None:
    """A limit is empty (None), a non-negative whole number (counts, seconds) or a
    non-negative decimal (quantities, notionals, percent); anything else is ``invalid_limit``."""
    if value is None:
        return None
    try:
        number = to_decimal(value, field=name)
    except ApplicationError as exc:
        raise ValidationError(exc.detail, code="invalid_limit", field=name) from None
    if number < 0:
        raise ValidationError(f"{name} must not be negative.", code="invalid_limit", field=name)
    if name in _COUNT_LIMITS:
        if number != number.to_integral_value():
            raise ValidationError(f"{name} must be a whole number.", code="invalid_limit", field=name)
        return int(number)
    places = 2 if name == "price_collar_percent" else 8
    try:
        return check_scale(number, scale=places, field=name)
    except ApplicationError as exc:
        raise ValidationError(exc.detail, code="invalid_limit", field=name) from None


def risk_limits_set(*, actor: User, account: TradingAccount | None = None, **limits: Any) -> RiskLimits:
    """Set limits for an account (or the firm defaults with no account). None clears a limit."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown limit(s): {', '.join(sorted(unknown))}.", code="invalid_limit")
    limits = {name: _limit_value(name, value) for name, value in limits.items()}
    with transaction.atomic(durable=True):
        row, _ = RiskLimits.objects.select_for_update().get_or_create(account=account)
        for name, value in limits.items():
            setattr(row, name, value)
        row.save()
    return row
