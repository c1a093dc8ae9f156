"""Applying a broker's execution report to an order: the state machine, the terms the venue
confirmed, the hold, the fill (``fills.py``) and the timeline — in the caller's transaction.

Reports may come late, twice (the intake books each exec id once), or in another order than the
venue produced them; each carries what the venue knows when it sent it (its CumQty and the
order's quantity), which is how a report applies correctly out of order:

- every report raises ``venue_cumulative_quantity`` to its CumQty, so a cancel confirmed before
  the fills it followed keeps the hold for those fills until they are booked;
- a fill reporting the quantity of the unanswered replace implies that the venue applied it
  (its REPLACED is on the way): the replace's terms are applied first, so the fill is not an
  overfill of the old quantity;
- an answer names the request it answers (``request_id``): a REPLACED or replace reject clears the
  pending replace only if it answers it; a cancel that the order's expiry asked for ends the
  order expired, not canceled.

Lock order: the order row, then its ledger accounts by primary key, then its hold, then its position.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.brokers.interface import FILL_TYPES, ExecType, ExecutionReport
from apps.ledger import locks as ledger_locks
from apps.ledger import operations as ledger_ops
from apps.ledger.models import Asset, Purpose
from apps.ledger.selectors import asset_get
from apps.ledger.services import ledger_accounts_resolve
from apps.orders import deferred, errors
from apps.orders.events import event
from apps.orders.fills import book_fill
from apps.orders.holds import Terms, hold_needed, notional_estimate, resize_hold
from apps.orders.locks import lock_order, lock_orders, lock_positions, lock_scope
from apps.orders.models import EventKind, Initiator, Order, OrderEvent
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


_REQUEST_ANSWERS = frozenset({ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED})


def machine(order: Order) -> Position:
    return Position(
        Status(order.status),
        order.quantity,
        order.filled_quantity,
        bool(order.broker_order_id),
        replace_pending=bool(order.pending_replace),
    )


def apply_report(*, broker: str, report: ExecutionReport, actor_id: int) -> Order:
    """Apply one report (the caller records it and provides the transaction)."""
    order = lock_order(report.order_id)
    if order is None:
        raise errors.OrderNotFound(f"No order {report.order_id} for {broker} report {report.exec_id}.")
    if order.broker and order.broker != broker:
        raise errors.InvalidOrder(f"Order {order.pk} routes to {order.broker}, not {broker}.")
    now = timezone.now()
    if report.broker_order_id and not order.broker_order_id and report.exec_type not in _REQUEST_ANSWERS:
        # Only the order's own reports acknowledge it: a cancel or replace reject may answer for an
        # order the venue refused (its REJECTED still on the way), which must then still apply.
        order.broker_order_id = report.broker_order_id
    order.venue_cumulative_quantity = max(order.venue_cumulative_quantity, report.cumulative_quantity)
    if report.exec_type in FILL_TYPES:
        if _implies_replace(order, report):
            _apply_pending_replace(order, actor_id, now, report)
        book_fill(order, broker, report, actor_id, now)
        return order
    _apply_answer(order, report, actor_id, now)
    return order


def apply_reports(*, broker: str, reports: list[ExecutionReport], actor_id: int) -> None:
    """Apply many reports in the caller's transaction (the caller records them), in their order.

    Every row the batch touches is locked first, one statement per table in the global order:
    the orders by id, every ledger account a fill of theirs posts to (client and house, so the
    house accounts are locked once per batch) by id, their holds, the positions of the orders
    that fill. Each report is then applied exactly as ``apply_report`` applies it alone, its
    locks answered from memory. Raises as ``apply_report`` does; the caller rolls back."""
    now = timezone.now()
    with lock_scope(), ledger_locks.lock_scope(), ledger_ops.postings_deferred(), deferred.writes_deferred():
        orders = lock_orders(r.order_id for r in reports)
        filling = {r.order_id for r in reports if r.exec_type in FILL_TYPES} & set(orders)
        wanted: list[tuple[int | None, str, Asset]] = []
        for order in orders.values():
            owner, instrument = order.account_id, order.instrument
            currency = asset_get(instrument.currency)
            wanted += [
                (owner, Purpose.CASH_AVAILABLE, currency),
                (owner, Purpose.CASH_RESERVED, currency),
                (owner, Purpose.POSITION_AVAILABLE, instrument.asset),
                (owner, Purpose.POSITION_RESERVED, instrument.asset),
            ]
            if order.pk in filling:
                wanted += [
                    (None, Purpose.STREET, currency),
                    (None, Purpose.STREET, instrument.asset),
                    (None, Purpose.FEE_INCOME, currency),
                ]
        unique = list({(o, p, a.pk): (o, p, a) for o, p, a in wanted}.values())
        ledger_locks.lock_ledger_accounts(a.pk for a in ledger_accounts_resolve(unique).values())
        holds = ledger_locks.lock_holds(o.hold_id for o in orders.values() if o.hold_id)
        for order in orders.values():
            if order.hold_id in holds:
                order.hold = holds[order.hold_id]
        lock_positions(((orders[i].account_id, orders[i].instrument_id) for i in filling), now=now)
        for report in reports:
            apply_report(broker=broker, report=report, actor_id=actor_id)


def _implies_replace(order: Order, report: ExecutionReport) -> bool:
    """A fill under the unanswered replace's terms: the venue applied it.

    A report names the request whose terms the venue works (its ClOrdID); a fill sent before the
    replace, and delivered after, names the older request even when its quantity happens to equal
    the replace's. Only a report without a request id falls back to comparing quantities.
    """
    pending = order.pending_replace
    if pending and report.request_id:
        return report.request_id == str(pending.get("request_id") or "")
    return (
        bool(pending)
        and report.quantity is not None
        and report.quantity != order.quantity
        and report.quantity == Decimal(str(pending["quantity"]))  # type: ignore[index]
    )


def _apply_pending_replace(order: Order, actor_id: int, now: Any, report: ExecutionReport) -> None:
    """Apply the unanswered replace's terms because a later report shows the venue works them."""
    pending = order.pending_replace
    assert pending
    terms = Terms.pending(order)
    assert terms is not None
    _set_terms(order, terms.quantity, terms.limit_price, _decimal(pending.get("stop_price")), terms.price_estimate)
    order.working_request_id = str(pending.get("request_id") or order.working_request_id)
    order.pending_replace = None
    if order.status == Status.PENDING_REPLACE:
        order.status = next_status(machine(order), Event.REPLACED)
    deferred.add_event(
        event(
            order,
            EventKind.REPLACED,
            actor_id=actor_id,
            initiator=Initiator.VENUE,
            at=now,
            data={"implied_by": report.exec_id, **_terms_data(order)},
        )
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _set_terms(
    order: Order,
    quantity: Decimal | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    price_estimate: Decimal | None,
) -> None:
    if quantity is not None:
        order.quantity = max(quantity, order.filled_quantity)
    order.limit_price = limit_price if limit_price is not None else order.limit_price
    order.stop_price = stop_price if stop_price is not None else order.stop_price
    order.price_estimate = price_estimate if price_estimate is not None else order.price_estimate
    scale = asset_get(order.instrument.currency).scale
    order.notional_estimate = notional_estimate(order, Terms.current(order), scale)


def _terms_data(order: Order) -> dict[str, Any]:
    return {"quantity": order.quantity, "limit_price": order.limit_price, "stop_price": order.stop_price}


def _answers_pending(order: Order, report: ExecutionReport) -> bool:
    pending = order.pending_replace
    return bool(pending) and (not report.request_id or report.request_id == pending.get("request_id"))  # type: ignore[union-attr]


def _apply_answer(order: Order, report: ExecutionReport, actor_id: int, now: Any) -> None:
    machine_event, kind = _EVENTS[report.exec_type]
    data: dict[str, Any] = {"exec_id": report.exec_id, "exec_type": report.exec_type, "text": report.text}
    if report.request_id:
        data["request_id"] = report.request_id
    initiator: str = Initiator.VENUE
    if report.exec_type == ExecType.REPLACED:
        answered = _answers_pending(order, report)
        estimate = _decimal(order.pending_replace.get("price_estimate")) if answered else None  # type: ignore[union-attr]
        _set_terms(order, report.quantity, report.limit_price, report.stop_price, estimate)
        if report.request_id:
            order.working_request_id = report.request_id
        if answered:
            order.pending_replace = None
        data.update(_terms_data(order))
    elif report.exec_type == ExecType.REPLACE_REJECTED and _answers_pending(order, report):
        order.pending_replace = None
    elif report.exec_type == ExecType.CANCELED and order.status == Status.PENDING_CANCEL:
        initiator = _cancel_initiator(order)
        if initiator == Initiator.EXPIRY:  # the cancel our expiry asked for: the order expired
            machine_event, kind = Event.EXPIRE, EventKind.EXPIRED
    order.status = next_status(machine(order), machine_event)
    if order.status in TERMINAL:
        order.pending_replace = None
    if order.status == Status.REJECTED:
        order.reject_reason, order.reject_detail = "broker_rejected", report.text
    order.updated_at = now
    deferred.save_order(order)
    if order.status in TERMINAL or report.exec_type in (ExecType.REPLACED, ExecType.REPLACE_REJECTED):
        resize_hold(order, actor_id)  # nothing else changes what the hold needs
    deferred.add_event(
        event(order, kind, actor_id=actor_id, initiator=initiator, data=data, broker_at=report.broker_time, at=now)
    )


def _cancel_initiator(order: Order) -> str:
    """Who asked for the cancel the venue confirmed: the last cancel request's initiator, else the venue."""
    last = (
        OrderEvent.objects.filter(order=order, kind=EventKind.CANCEL_REQUESTED)
        .order_by("-id")
        .values_list("initiator", flat=True)
        .first()
    )
    return last or Initiator.VENUE


__all__ = ["apply_report", "apply_reports", "hold_needed", "machine", "resize_hold"]
