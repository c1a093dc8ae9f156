"""Placing an order: validation, pre-trade risk under the account's balance locks, the hold,
the timeline, and the routing instruction — one durable transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.brokers import outbox
from apps.core import faults
from apps.core.db import atomic_with_retry
from apps.instruments.models import Instrument
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.models import Asset, LedgerAccount, Purpose
from apps.ledger.selectors import asset_get
from apps.orders import errors, risk_inputs
from apps.orders.events import event
from apps.orders.models import EventKind, Initiator, Order, OrderEvent
from apps.orders.risk_inputs import balance_accounts
from apps.orders.state import Status
from apps.orders.validation import Terms, check_against_instrument, client_order_id_or_new, parse_terms
from apps.risk import checks

if TYPE_CHECKING:
    from apps.users.models import User

ORDER_CONSTRAINT = "order_client_order_id_per_account"


def _replay(account_id: int, client_order_id: str, fingerprint: str) -> Order | None:
    existing = Order.objects.filter(account_id=account_id, client_order_id=client_order_id).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise errors.DuplicateClientOrderId(
            f"client_order_id {client_order_id!r} was already used for a different order.", order_id=existing.pk
        )
    existing.replayed = True  # type: ignore[attr-defined]
    return existing


def order_place(
    *,
    actor: User,
    account: TradingAccount | int,
    symbol: Any,
    side: Any,
    type: Any,
    quantity: Any,
    limit_price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = "day",
    client_order_id: Any = None,
) -> Order:
    """Place an order. Returns the order: ``pending_new`` when risk accepted it (a hold is placed
    and the order is queued for its broker), ``rejected`` with ``reject_reason`` when risk refused
    it (stored as evidence). Malformed requests raise and store nothing. The same
    ``client_order_id`` with the same terms returns the first order (``replayed``)."""
    terms = parse_terms(
        side=side,
        type=type,
        quantity=quantity,
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force=time_in_force,
    )
    coid = client_order_id_or_new(client_order_id)
    account_id = account.pk if isinstance(account, TradingAccount) else account
    if not isinstance(symbol, str) or not symbol:
        raise errors.UnknownInstrument("symbol is required.", field="symbol")
    instrument = Instrument.objects.select_related("reference_price", "asset").filter(symbol=symbol).first()
    if instrument is None:
        raise errors.UnknownInstrument(f"Unknown instrument {symbol!r}.", field="symbol")
    check_against_instrument(terms, instrument)
    fp = terms.fingerprint(symbol)
    trading_account = TradingAccount.objects.filter(pk=account_id).first() if isinstance(account_id, int) else None
    if trading_account is None:
        raise errors.UnknownAccount("Unknown trading account.")
    currency = asset_get(instrument.currency)
    balances = balance_accounts(account_id=account_id, instrument=instrument, currency=currency)

    @atomic_with_retry()
    def attempt() -> Order:
        locked = ledger_locks.lock_ledger_accounts(a.pk for a in balances.values())
        replay = _replay(account_id, coid, fp)
        if replay is not None:
            return replay
        order = _place_locked(
            actor=actor,
            account=trading_account,
            instrument=instrument,
            terms=terms,
            coid=coid,
            fp=fp,
            locked=locked,
            balances=balances,
            currency=currency,
        )
        faults.point("orders.place.before_commit")
        return order

    try:
        return attempt()
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != ORDER_CONSTRAINT:
            raise
    replay = _replay(account_id, coid, fp)
    assert replay is not None
    return replay


def _place_locked(
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
        transaction.on_commit(outbox.kick)
    order.replayed = False  # type: ignore[attr-defined]
    return order
