"""Order locks. Global order: the order rows (by id), then ledger accounts by primary key, then
holds, then positions.

A batch of execution reports (``execution.apply_reports``) locks all its rows up front, one
statement per table in that order, inside a :func:`lock_scope`; within it ``lock_order`` and
``position_lock`` answer the rows from memory, so each report's steps lock nothing again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from apps.core.scopes import bound
from apps.orders.models import Order, Position


@dataclass
class _Held:
    orders: dict[int, Order] = field(default_factory=dict)
    positions: dict[tuple[int, int], Position] = field(default_factory=dict)


_held: ContextVar[_Held | None] = ContextVar("order_locks_held", default=None)


@contextmanager
def lock_scope() -> Iterator[None]:
    """Rows locked within the block are answered from memory (the objects the batch changes).
    Leave the block before the transaction ends."""
    assert connection.in_atomic_block, "a lock scope lives inside a transaction"
    with bound(_held, _Held()):
        yield


def _query() -> object:
    return Order.objects.select_for_update(no_key=True, of=("self",)).select_related(
        "instrument__asset", "account", "hold"
    )


def lock_orders(order_ids: Iterable[int]) -> dict[int, Order]:
    """Lock orders by id, in id order, in one statement; those that do not exist are absent."""
    wanted = sorted(set(order_ids))
    held = _held.get()
    missing = [i for i in wanted if held is None or i not in held.orders]
    found = {o.pk: o for o in _query().filter(pk__in=missing).order_by("pk")}  # type: ignore[attr-defined]
    if held is None:
        return found
    held.orders.update(found)
    return {i: held.orders[i] for i in wanted if i in held.orders}


def lock_order(order_id: int) -> Order | None:
    held = _held.get()
    if held is not None and order_id in held.orders:
        return held.orders[order_id]
    return lock_orders([order_id]).get(order_id)


def lock_positions(pairs: Iterable[tuple[int, int]], *, now: datetime) -> None:
    """Create (on first fill) and lock the positions of (account id, instrument id) pairs, in id
    order, two statements in all; within a scope, ``position_lock`` then answers them."""
    wanted = sorted(set(pairs))
    if not wanted:
        return
    Position.objects.bulk_create(
        [Position(account_id=a, instrument_id=i, updated_at=now) for a, i in wanted], ignore_conflicts=True
    )
    rows = Position.objects.raw(
        "SELECT p.* FROM orders_position p"
        " JOIN unnest(%s::bigint[], %s::bigint[]) AS w(account_id, instrument_id)"
        " ON p.account_id = w.account_id AND p.instrument_id = w.instrument_id"
        " ORDER BY p.id FOR NO KEY UPDATE OF p",
        [[a for a, _ in wanted], [i for _, i in wanted]],
    )
    held = _held.get()
    for position in rows:
        if held is not None:
            held.positions.setdefault((position.account_id, position.instrument_id), position)


def position_lock(*, account_id: int, instrument_id: int, now: datetime) -> Position:
    """The position row, locked (created on first fill). Locked last: after order, ledger
    accounts and hold."""
    held = _held.get()
    key = (account_id, instrument_id)
    if held is not None and key in held.positions:
        return held.positions[key]
    Position.objects.bulk_create(
        [Position(account_id=account_id, instrument_id=instrument_id, updated_at=now)], ignore_conflicts=True
    )
    position = Position.objects.select_for_update(no_key=True).get(account_id=account_id, instrument_id=instrument_id)
    if held is not None:
        held.positions[key] = position
    return position
