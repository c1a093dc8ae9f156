"""What the brokers app needs from the orders app, a layer above it, offered as a hook.

The brokers app claims instructions, calls venues and records their reports; applying a report
to an order (its state, fills, holds, ledger postings, timeline), building the ticket a venue sees
from an order, and writing the ROUTED step of an order's timeline are the orders app's business.
The orders app registers its side when Django starts (``OrdersConfig.ready``); brokers never
imports orders for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from apps.brokers.interface import ExecutionReport, OrderTicket
from apps.brokers.models import OrderInstruction


class OrderSide(Protocol):
    def apply_report(self, *, broker: str, report: ExecutionReport, actor_id: int) -> object:
        """Apply one report in the caller's transaction (the caller recorded it)."""
        ...

    def apply_reports(self, *, broker: str, reports: list[ExecutionReport], actor_id: int) -> None:
        """Apply many in the caller's transaction, in their order, as one by one would."""
        ...

    def ticket_for(self, order: Any, instruction: OrderInstruction | None = None) -> OrderTicket:
        """The ticket for one request about ``order`` (an instruction's ``order``)."""
        ...

    def record_routed(self, instructions: Sequence[OrderInstruction], *, actor_id: int, now: datetime) -> None:
        """The ROUTED step of the timeline of each order whose submit was just claimed."""
        ...


_registered: dict[str, OrderSide] = {}


def register_order_side(side: OrderSide) -> None:
    _registered["orders"] = side


def order_side() -> OrderSide:
    side = _registered.get("orders")
    if side is None:
        raise ImproperlyConfigured("The orders app has not registered its side: is apps.orders in INSTALLED_APPS?")
    return side
