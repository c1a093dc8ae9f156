"""Risk write services: the kill switch, the restricted list, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core.decimals import check_scale, to_decimal
from apps.core.errors import ApplicationError, NotFound, ValidationError
from apps.risk import signals
from apps.risk.exposure import (
    STRICTNESS,
    AccountMarks,
    Breach,
    Figures,
    account_breaches,
    account_figures,
    firm_breaches,
    firm_figures,
)
from apps.risk.models import (
    FIRM_ONLY_LIMITS,
    LIMIT_FIELDS,
    ExposureSnapshot,
    RestrictedInstrument,
    RiskLimits,
    Scope,
    TradingState,
    TradingStateValue,
)
from apps.risk.selectors import exposure_baselines, limits_for_accounts

if TYPE_CHECKING:
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
    row, _ = _trading_state_write(actor=actor, state=state, reason=reason, account=account, instrument=instrument)
    return row


def _trading_state_write(
    *,
    actor: User,
    state: str,
    reason: str,
    account: TradingAccount | None = None,
    instrument: Instrument | None = None,
    escalate_only: bool = False,
    on_changed: Callable[[TradingState], None] | None = None,
) -> tuple[TradingState, bool]:
    """``trading_state_set``, and whether it changed anything: with ``escalate_only`` a target
    already in this state or a stricter one (halted > reducing > active) is left as it is,
    decided under the row's lock. ``on_changed`` runs inside the transaction after the write
    (its rows commit with the state, or not at all)."""
    if state not in TradingStateValue.values:
        raise ValidationError(f"Unknown trading state {state!r}.", code="invalid_state")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("A reason is required.", code="reason_required")
    if account is not None and instrument is not None:
        raise ValidationError("Set a state for an account or an instrument, not both.", code="invalid_scope")
    scope = Scope.ACCOUNT if account is not None else Scope.INSTRUMENT if instrument is not None else Scope.GLOBAL
    with transaction.atomic(durable=True):
        if escalate_only:
            current = (
                TradingState.objects.select_for_update()
                .filter(scope=scope, account=account, instrument=instrument)
                .first()
            )
            if current is not None and STRICTNESS[current.state] >= STRICTNESS[state]:
                return current, False
        row, _ = TradingState.objects.select_for_update().update_or_create(
            scope=scope,
            account=account,
            instrument=instrument,
            defaults={"state": state, "reason": reason.strip(), "updated_by": actor, "updated_at": timezone.now()},
        )
        if on_changed is not None:
            on_changed(row)
    return row, True


@dataclass(frozen=True)
class KillSwitchResult:
    """What the kill switch did: the state row, and the open orders it asked to cancel."""

    state: TradingState
    canceled: list[int] = field(default_factory=list)
    # Orders that ended (filled, canceled, ...) between the listing and their cancel: (id, code).
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # False when ``escalate_only`` found the target already as strict: nothing written or canceled.
    changed: bool = True


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
    escalate_only: bool = False,
    on_changed: Callable[[TradingState], None] | None = None,
) -> KillSwitchResult:
    """Halt, reduce or resume trading for the firm (no target), one account or one instrument.

    The state is committed first (``trading_state_set``): from then on the very next order in
    the scope is refused. Then, when halting with ``cancel_open_orders``, every open order in
    the scope is canceled through ``order_cancel`` with the kill switch as initiator and the
    reason recorded on its event, one order per transaction; each cancel reaches its broker
    through the outbox after commit. An order that ended meanwhile is skipped, not an error.
    Bad input (no reason, unknown state, both targets, cancel without halting) changes nothing.
    With ``escalate_only`` (the mark-to-market job) a target already as strict is left alone
    (``changed`` False, no order canceled); ``on_changed`` runs in the state's transaction.
    """
    from apps.orders import errors as order_errors
    from apps.orders.models import Initiator
    from apps.orders.services import order_cancel

    if cancel_open_orders and state != TradingStateValue.HALTED:
        raise ValidationError("Open orders can only be canceled together with a halt.", code="cancel_requires_halt")
    row, changed = _trading_state_write(
        actor=actor,
        state=state,
        reason=reason,
        account=account,
        instrument=instrument,
        escalate_only=escalate_only,
        on_changed=on_changed,
    )
    if not changed:
        return KillSwitchResult(state=row, changed=False)
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
_PERCENT_LIMITS = frozenset({"price_collar_percent", "max_concentration_percent"})
_POSITIVE_LIMITS = frozenset({"daily_loss_limit", "daily_loss_halt_limit"})  # zero would trip on any day


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
    if name in _POSITIVE_LIMITS and number == 0:
        raise ValidationError(f"{name} must be positive.", code="invalid_limit", field=name)
    places = 2 if name in _PERCENT_LIMITS else 8
    try:
        return check_scale(number, scale=places, field=name)
    except ApplicationError as exc:
        raise ValidationError(exc.detail, code="invalid_limit", field=name) from None


def risk_limits_check(*, account: TradingAccount | None = None, **limits: Any) -> dict[str, Any]:
    """Validate limits without writing; the values as they would be stored. ``risk_limits_set``
    calls it; the admin's form calls it to show a refusal on its field."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown limit(s): {', '.join(sorted(unknown))}.", code="invalid_limit")
    limits = {name: _limit_value(name, value) for name, value in limits.items()}
    if account is not None:
        for name in sorted(FIRM_ONLY_LIMITS):
            if limits.get(name) is not None:
                raise ValidationError(
                    f"{name} is a firm-wide limit: set it on the firm row.", code="invalid_limit", field=name
                )
    if "daily_loss_limit" in limits and "daily_loss_halt_limit" in limits:
        limits_consistent(RiskLimits(**limits))
    return limits


def risk_limits_set(*, actor: User, account: TradingAccount | None = None, **limits: Any) -> RiskLimits:
    """Set limits for an account (or the firm defaults with no account). None clears a limit.
    Audited (auditlog tracks ``RiskLimits``: who, when, each value before and after)."""
    limits = risk_limits_check(account=account, **limits)
    with transaction.atomic(durable=True):
        row, _ = RiskLimits.objects.select_for_update().get_or_create(account=account)
        for name, value in limits.items():
            setattr(row, name, value)
        limits_consistent(row)
        row.save()
    return row


def limits_consistent(row: RiskLimits) -> None:
    """The halt limit of a row, when both are set there, is at least its reducing limit."""
    low, high = row.daily_loss_limit, row.daily_loss_halt_limit
    if low is not None and high is not None and Decimal(high) < Decimal(low):
        raise ValidationError(
            "daily_loss_halt_limit must be at least daily_loss_limit.",
            code="invalid_limit",
            field="daily_loss_halt_limit",
        )


# --- mark-to-market: exposure snapshots and the limits they are held against ---------------------


def exposure_snapshot_record(
    *, taken_at: datetime, day_start: datetime | None, accounts: list[AccountMarks]
) -> list[ExposureSnapshot]:
    """Store one mark-to-market run: a snapshot per account in ``accounts`` and the firm-wide
    row (last), all with ``taken_at``, in one transaction and one multi-row INSERT.

    Daily P&L is the total P&L (realized + unrealized) now less the total P&L of the account's
    last snapshot taken before ``day_start`` (the start of the business day: the previous
    session close); 0 without one. A measurement, not an action of anyone: no actor."""
    with transaction.atomic(durable=True):
        ids = [m.account_id for m in accounts]
        baselines = exposure_baselines(account_ids=ids, before=day_start) if day_start is not None else {}
        figures = [account_figures(m, baseline_pnl=baselines.get(m.account_id, Decimal(0))) for m in accounts]
        rows = [_snapshot_row(f, taken_at) for f in [*figures, firm_figures(figures)]]
        ExposureSnapshot.objects.bulk_create(rows)
    return rows


def _snapshot_row(f: Figures, taken_at: datetime) -> ExposureSnapshot:
    return ExposureSnapshot(
        account_id=f.account_id,
        taken_at=taken_at,
        currency=f.currency,
        cash=f.cash,
        market_value=f.market_value,
        cost_basis=f.cost_basis,
        unrealized_pnl=f.unrealized_pnl,
        realized_pnl=f.realized_pnl,
        equity=f.equity,
        gross_exposure=f.gross_exposure,
        concentration_percent=f.concentration_percent,
        daily_pnl=f.daily_pnl,
        lines=f.lines,
    )


def _figures_of(row: ExposureSnapshot) -> Figures:
    return Figures(
        account_id=row.account_id,
        currency=row.currency,
        cash=row.cash,
        market_value=row.market_value,
        cost_basis=row.cost_basis,
        unrealized_pnl=row.unrealized_pnl,
        realized_pnl=row.realized_pnl,
        equity=row.equity,
        gross_exposure=row.gross_exposure,
        concentration_percent=row.concentration_percent,
        daily_pnl=row.daily_pnl,
        lines=row.lines,
    )


def exposure_limits_enforce(*, actor: User, snapshots: list[ExposureSnapshot]) -> list[Breach]:
    """Hold one run's snapshots against the limits and act on what they breach; the breaches
    acted on.

    An account whose daily loss reached ``daily_loss_halt_limit`` is halted (its open orders
    canceled); one whose daily loss reached ``daily_loss_limit``, or whose largest position is
    above ``max_concentration_percent`` of its equity, is set to reducing only; the firm's
    gross exposure above ``max_gross_exposure`` sets the firm (global) to reducing only. Each
    goes through the kill switch with ``escalate_only``: a target already as strict (a halted
    account stays halted; one already reducing is not rewritten every run) is left alone, and
    only a change raises the ``limit_breached`` signal (compliance's alert), in the state's
    transaction."""
    accounts = [row for row in snapshots if row.account_id is not None]
    limits = limits_for_accounts(account_ids=[row.account_id for row in accounts])  # type: ignore[misc]
    wanted: list[tuple[Breach, ExposureSnapshot, list[Breach]]] = []
    for row in snapshots:
        found = (
            firm_breaches(_figures_of(row), limits[None])
            if row.account_id is None
            else account_breaches(_figures_of(row), limits[row.account_id])
        )
        if found:
            strictest = max(found, key=lambda b: STRICTNESS[b.state])  # first of the strictest
            wanted.append((strictest, row, found))
    if not wanted:
        return []
    targets = TradingAccount.objects.in_bulk([b.account_id for b, _, _ in wanted if b.account_id is not None])
    applied: list[Breach] = []
    for breach, row, found in wanted:
        account = targets.get(breach.account_id) if breach.account_id is not None else None
        details = {
            **breach.details,
            "snapshot": row.pk,
            "taken_at": row.taken_at,
            "breaches": [b.code for b in found],
        }

        def raise_alert(state: TradingState, breach: Breach = breach, details: dict[str, Any] = details) -> None:
            signals.limit_breached.send(sender=ExposureSnapshot, breach=breach, details=details, state=state)

        result = kill_switch_set(
            actor=actor,
            state=breach.state,
            reason=breach.reason,
            account=account,
            cancel_open_orders=breach.state == TradingStateValue.HALTED,
            escalate_only=True,
            on_changed=raise_alert,
        )
        if result.changed:
            applied.append(breach)
    return applied
