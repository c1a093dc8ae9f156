"""The paper venue's book: order rows, the reports they produce, and how a working order moves.

Every function here runs inside the adapter's transaction with the order row locked; every
report is stored before it is returned, so ``order_status`` can always answer again.
Exec ids are ``PAPER-{order_id}-{n}`` (n counts the order's reports), and
``PAPER-{order_id}-X{n}`` for the rejection of a cancel or replace of an unknown order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.brokers.interface import ExecType, ExecutionReport, OrderTicket
from apps.core.scopes import bound
from plugins.paper.commission import fill_fee
from plugins.paper.config import PaperSettings
from plugins.paper.models import PaperOrder, PaperReport, PaperStatus
from plugins.paper.simulator import DAY, FOK, IMMEDIATE, Market, Terms, evaluate, storable

ZERO = Decimal(0)


def broker_order_id(order_id: int) -> str:
    return f"PAPER-{order_id}"


def order_row(ticket: OrderTicket, now: datetime) -> PaperOrder:
    """An unsaved row for a ticket; values that cannot be stored are dropped (the order is rejected)."""
    return PaperOrder(
        order_id=ticket.order_id,
        broker_order_id=broker_order_id(ticket.order_id),
        client_order_id=str(ticket.client_order_id)[:64],
        account_number=str(ticket.account_number)[:64],
        symbol=str(ticket.symbol)[:32],
        side=str(ticket.side)[:16],
        order_type=str(ticket.order_type)[:16],
        time_in_force=str(ticket.time_in_force)[:16],
        quantity=max(storable(ticket.quantity) or ZERO, ZERO),
        limit_price=storable(ticket.limit_price),
        stop_price=storable(ticket.stop_price),
        request_id=str(ticket.request_id)[:64],
        status=PaperStatus.NEW,
        created_at=now,
        updated_at=now,
    )


def terms_of(order: PaperOrder) -> Terms:
    return Terms(
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        cumulative_quantity=order.cumulative_quantity,
        triggered=order.triggered,
    )


def to_report(row: PaperReport) -> ExecutionReport:
    return ExecutionReport(
        exec_id=row.exec_id,
        order_id=row.order_id,
        exec_type=ExecType(row.exec_type),
        broker_order_id=row.broker_order_id,
        last_quantity=row.last_quantity,
        last_price=row.last_price,
        fee=row.fee,
        cumulative_quantity=row.cumulative_quantity,
        leaves_quantity=row.leaves_quantity,
        broker_time=row.broker_time,
        text=row.text,
        request_id=row.request_id,
        quantity=row.quantity,
        limit_price=row.limit_price,
        stop_price=row.stop_price,
    )


def reports_for(order_id: int) -> list[ExecutionReport]:
    return [to_report(row) for row in PaperReport.objects.filter(order_id=order_id).order_by("id")]


_deferred: ContextVar[list[PaperReport] | None] = ContextVar("paper_deferred_reports", default=None)


@contextmanager
def reports_deferred() -> Iterator[list[PaperReport]]:
    """Within the block, ``emit`` collects the reports and the block's end stores them all in one
    statement, in the order they were emitted (so their ids keep that order)."""
    pending: list[PaperReport] = []
    with bound(_deferred, pending):
        yield pending
    PaperReport.objects.bulk_create(pending)


def emit(order: PaperOrder, exec_type: ExecType, now: datetime, **fields: object) -> PaperReport:
    """Store the order's next report, with its quantity, cumulative and leaves quantities as they
    are now, naming the request it answers (default: the one the order works under)."""
    order.exec_seq += 1
    order.updated_at = now
    fields.setdefault("request_id", order.request_id)
    fields.setdefault("quantity", order.quantity)
    pending = _deferred.get()
    build = PaperReport if pending is not None else PaperReport.objects.create
    row = build(
        paper_order=order,
        order_id=order.order_id,
        exec_id=f"{order.broker_order_id}-{order.exec_seq}",
        exec_type=exec_type,
        broker_order_id=order.broker_order_id,
        cumulative_quantity=order.cumulative_quantity,
        leaves_quantity=order.leaves_quantity,
        broker_time=now,
        **fields,
    )
    if pending is not None:
        pending.append(row)
    return row


def emit_unknown(order_id: int, exec_type: ExecType, now: datetime, text: str, request_id: str = "") -> PaperReport:
    """Reject a cancel or replace of an order the venue never received (no row to count on)."""
    for _ in range(5):
        n = PaperReport.objects.filter(order_id=order_id, paper_order__isnull=True).count() + 1
        try:
            with transaction.atomic():
                return PaperReport.objects.create(
                    order_id=order_id,
                    exec_id=f"PAPER-{order_id}-X{n}",
                    exec_type=exec_type,
                    broker_time=now,
                    text=text,
                    request_id=request_id[:64],
                )
        except IntegrityError:  # a concurrent rejection took this number
            continue
    raise IntegrityError(f"could not number a report for the unknown order {order_id}")


def finish(
    order: PaperOrder, status: PaperStatus, exec_type: ExecType, now: datetime, text: str, *, request_id: str = ""
) -> PaperReport:
    """End the order without a fill (canceled, rejected, expired): nothing is left open."""
    order.status = status
    order.leaves_quantity = ZERO
    return emit(order, exec_type, now, text=text, request_id=request_id or order.request_id)


def fill(order: PaperOrder, quantity: Decimal, price: Decimal, now: datetime, settings: PaperSettings) -> PaperReport:
    fee = fill_fee(filled_before=order.cumulative_quantity, quantity=quantity, settings=settings)
    order.cumulative_quantity += quantity
    order.leaves_quantity -= quantity
    order.commission += fee
    done = order.leaves_quantity == 0
    order.status = PaperStatus.FILLED if done else PaperStatus.PARTIALLY_FILLED
    return emit(
        order,
        ExecType.FILL if done else ExecType.PARTIAL_FILL,
        now,
        last_quantity=quantity,
        last_price=price,
        fee=fee,
    )


def day_expiry(now: datetime, settings: PaperSettings) -> datetime | None:
    """The next ``day_close_utc`` after ``now`` (None when DAY orders do not expire here)."""
    if settings.day_close_utc is None:
        return None
    close = datetime.combine(now.astimezone(UTC).date(), settings.day_close_utc, tzinfo=UTC)
    return close if close > now else close + timedelta(days=1)


def accept(order: PaperOrder, market: Market, now: datetime, settings: PaperSettings) -> list[PaperReport]:
    """Acknowledge a valid new order, then execute what can execute now."""
    order.leaves_quantity = order.quantity
    if order.time_in_force == DAY:
        order.expires_at = day_expiry(now, settings)
    reports = [emit(order, ExecType.NEW, now)]
    return reports + work(order, market, now, settings)


def work(order: PaperOrder, market: Market | None, now: datetime, settings: PaperSettings) -> list[PaperReport]:
    """Evaluate a working order once. IOC and FOK orders are evaluated once only, on arrival:
    an IOC cancels what did not fill, a FOK fills entirely or is canceled entirely."""
    result = evaluate(terms_of(order), market, settings)
    order.triggered = result.triggered
    if order.time_in_force == FOK and result.quantity < order.leaves_quantity:
        return [finish(order, PaperStatus.CANCELED, ExecType.CANCELED, now, "FOK: could not fill entirely")]
    reports = []
    if result.quantity > 0:
        assert result.price is not None
        reports.append(fill(order, result.quantity, result.price, now, settings))
    if order.time_in_force in IMMEDIATE and order.leaves_quantity > 0:
        reports.append(finish(order, PaperStatus.CANCELED, ExecType.CANCELED, now, "IOC: remainder canceled"))
    return reports
