"""Writes of the order side deferred to the end of a batch of execution reports.

Within :func:`writes_deferred` (inside the batch's transaction, with every row it touches locked
up front: ``locks.lock_scope``), the order, its fills, its position and its timeline are changed
in memory as each report is applied, and written at the end of the block in one statement per
table: the fills and the events with one multi-row INSERT each, the orders and the positions
with one UPDATE each. An order that several reports of the batch change is written once, as the
last of them left it. Outside the block every ``save_*`` writes at once, as before.

Nothing in the intake reads these rows back from the database while the batch runs (the locked
objects are the state), which is what makes the deferral exact; the batch ends exactly as the
same reports one at a time (``tests/brokers/test_intake_batch.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import connection

from apps.core.rows import update_rows
from apps.core.scopes import bound
from apps.orders.models import Fill, Order, OrderEvent, Position

_ORDER_FIELDS = [f.name for f in Order._meta.concrete_fields if not f.primary_key]
_POSITION_FIELDS = ["quantity", "cost_basis", "realized_pnl", "updated_at"]


@dataclass
class _Pending:
    orders: dict[int, Order] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)


_pending: ContextVar[_Pending | None] = ContextVar("order_writes_pending", default=None)


@contextmanager
def writes_deferred() -> Iterator[None]:
    """Collect the order side's writes in the block; write them at its end (not on an error:
    the caller's transaction rolls back)."""
    assert connection.in_atomic_block, "deferred writes live inside a transaction"
    with bound(_pending, _Pending()) as pending:
        yield
    Fill.objects.bulk_create(pending.fills)
    update_rows(list(pending.orders.values()), _ORDER_FIELDS)
    update_rows(list(pending.positions.values()), _POSITION_FIELDS)
    OrderEvent.objects.bulk_create(pending.events)


def save_order(order: Order) -> None:
    pending = _pending.get()
    if pending is None:
        order.save()
    else:
        pending.orders[order.pk] = order


def save_position(position: Position) -> None:
    pending = _pending.get()
    if pending is None:
        position.save(update_fields=_POSITION_FIELDS)
    else:
        pending.positions[position.pk] = position


def add_fill(fill: Fill) -> None:
    pending = _pending.get()
    if pending is None:
        fill.save(force_insert=True)
    else:
        pending.fills.append(fill)


def add_event(event: OrderEvent) -> None:
    pending = _pending.get()
    if pending is None:
        event.save(force_insert=True)
    else:
        pending.events.append(event)
