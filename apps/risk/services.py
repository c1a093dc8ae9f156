"""Risk write services: the kill switch, the restricted list, limits."""

from __future__ import annotations

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
