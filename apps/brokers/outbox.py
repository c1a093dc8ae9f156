"""The outbox: routing instructions written in the order's own transaction.

Nothing here calls a broker; the relay (``relay.py``) does, after commit, outside any lock. The
insert itself wakes the relay loops (``relay_loop.py``: a statement trigger notifies them at commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from apps.brokers.models import AccountRoute, InstructionStatus, OrderInstruction


def brokers_for(account_ids: list[int]) -> dict[int, str]:
    """The broker each account routes to: its route, else the default broker (one query)."""
    routes = dict(
        AccountRoute.objects.filter(account_id__in=sorted(set(account_ids))).values_list("account_id", "broker")
    )
    return {account_id: routes.get(account_id) or str(settings.DEFAULT_BROKER) for account_id in account_ids}


def _instruction(
    order_id: int, broker: str, action: str, now: datetime, payload: dict[str, Any] | None = None
) -> OrderInstruction:
    return OrderInstruction(
        order_id=order_id,
        broker=broker,
        action=action,
        payload=payload or {},
        status=InstructionStatus.PENDING,
        available_at=now,
        created_at=now,
    )


def instructions_add(*, orders: list[tuple[int, str]], action: str, now: datetime) -> None:
    """``instruction_add`` for many (order id, broker) pairs (one statement)."""
    OrderInstruction.objects.bulk_create([_instruction(order_id, broker, action, now) for order_id, broker in orders])


def submit_withdraw(*, order_id: int, now: datetime) -> bool:
    """Withdraw the order's submit if it never reached the venue: still waiting (or dead) and no
    attempt's outcome was unknown. Returns whether it was withdrawn; the order's other waiting
    instructions are withdrawn with it. Call with the order row locked (it is locked before
    its instructions); a submit the relay holds in flight is not touched."""
    submit = (
        OrderInstruction.objects.select_for_update(of=("self",))
        .filter(order_id=order_id, action="submit")
        .only("id", "status", "maybe_delivered")
        .first()
    )
    if submit is None or submit.maybe_delivered:
        return False
    if submit.status not in (InstructionStatus.PENDING, InstructionStatus.DEAD):
        return False
    instructions_withdraw(order_id=order_id, now=now, reason="withdrawn: the order ended before it was sent")
    return True


def instructions_withdraw(*, order_id: int, now: datetime, reason: str, unknown_too: bool = False) -> int:
    """Withdraw the order's instructions that wait to be sent (and, when the venue has confirmed
    it has no such order, those whose outcome was unknown): the order ended here. Dead ones stay
    dead, as the record of what failed."""
    statuses = [InstructionStatus.PENDING, *([InstructionStatus.UNKNOWN] if unknown_too else [])]
    return OrderInstruction.objects.filter(order_id=order_id, status__in=statuses).update(
        status=InstructionStatus.WITHDRAWN, last_error=reason, completed_at=now
    )


def submit_status(order_id: int) -> str | None:
    """The status of the order's submit instruction (None: it has none)."""
    return OrderInstruction.objects.filter(order_id=order_id, action="submit").values_list("status", flat=True).first()


def instruction_add(
    *, order_id: int, broker: str, action: str, now: datetime, payload: dict[str, Any] | None = None
) -> OrderInstruction:
    instruction = _instruction(order_id, broker, action, now, payload)
    instruction.save(force_insert=True)
    return instruction
