"""The auditor: what must hold of the books, checked after every step of a simulation and at
quiescence. It reads the back office only through its tables and public selectors, and the
venue only through a :class:`Truth` (what the venue executed and handed out), so it runs
unchanged against any implementation of the pipeline and against any venue that can tell
its truth (the simulated one, the paper broker).

Each violation is a ``(kind, detail)`` pair; the kinds are stable names (``fill_missing``,
``hold_mismatch``...) that a shrinker can hold on to while it shortens a failing run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.db import connection
from django.db.models import Sum

from apps.brokers.intake import report_from_payload, report_key
from apps.brokers.interface import FILL_TYPES, ExecutionReport
from apps.brokers.models import ExecutionReportRecord, InstructionStatus, OrderInstruction
from apps.brokers.relay import MAX_ATTEMPTS
from apps.compliance.queues import dead_letter_list
from apps.compliance.reconciliation.books import books_differences_find
from apps.ledger.models import Hold
from apps.ledger.selectors import asset_get
from apps.ledger.verification import verify
from apps.orders.chain import event_chain_verify
from apps.orders.holds import Terms, hold_needed, notional_estimate
from apps.orders.models import Fill, Order
from apps.orders.state import OPEN, TERMINAL

Violation = tuple[str, str]
_OPEN = sorted(s.value for s in OPEN)


@dataclass(frozen=True)
class VenueOrderView:
    order_id: int
    cumulative: Decimal
    working: bool


class Truth(Protocol):
    """What a venue knows: every report it produced, which it handed over for good, its book."""

    def reports(self) -> Iterable[ExecutionReport]: ...

    def acknowledged(self) -> set[str]: ...

    def book(self) -> dict[int, VenueOrderView]: ...


class VenueTruth:
    """The simulated venue's truth."""

    def __init__(self, venue: object) -> None:
        from apps.simulation.venue import SimVenue

        assert isinstance(venue, SimVenue)
        self.venue = venue

    def reports(self) -> Iterable[ExecutionReport]:
        return self.venue.log

    def acknowledged(self) -> set[str]:
        return self.venue.acknowledged

    def book(self) -> dict[int, VenueOrderView]:
        return {
            i: VenueOrderView(i, o.cumulative, o.status in ("new", "partially_filled"))
            for i, o in self.venue.orders.items()
        }


def _fill_key(order_id: int, quantity: Decimal, price: Decimal | None, fee: Decimal) -> tuple[object, ...]:
    return (order_id, quantity.normalize(), (price or Decimal(0)).normalize(), fee.normalize())


def check_fills(truth: Truth, broker: str, *, quiescent: bool) -> list[Violation]:
    """Every booked fill is one the venue executed, with its terms; every fill handed over for
    good (acknowledged) is booked; at quiescence, every executed fill is booked."""
    found: list[Violation] = []
    executed = {
        r.exec_id: _fill_key(r.order_id, r.last_quantity, r.last_price, r.fee)
        for r in truth.reports()
        if r.exec_type in FILL_TYPES
    }
    booked = {f.exec_id: _fill_key(f.order_id, f.quantity, f.price, f.fee) for f in Fill.objects.filter(broker=broker)}
    for exec_id, terms in sorted(booked.items()):
        if exec_id not in executed:
            found.append(("fill_not_executed", f"fill {exec_id} {terms} was never executed by the venue"))
        elif executed[exec_id] != terms:
            found.append(("fill_differs", f"fill {exec_id}: booked {terms}, executed {executed[exec_id]}"))
    acked = truth.acknowledged()
    for exec_id, terms in sorted(executed.items()):
        if exec_id not in booked and (quiescent or exec_id in acked):
            found.append(("fill_missing", f"fill {exec_id} {terms} executed by the venue is not booked"))
    return found


def check_orders(truth: Truth, broker: str, *, quiescent: bool) -> list[Violation]:
    """Filled quantities, holds and risk inputs of every order routed to ``broker``."""
    found: list[Violation] = []
    book = truth.book()
    fills = dict(
        Fill.objects.filter(broker=broker).values("order_id").annotate(q=Sum("quantity")).values_list("order_id", "q")
    )
    scale = asset_get("USD").scale
    orders = Order.objects.select_related("instrument", "hold").exclude(status="rejected", broker="")
    for order in orders.order_by("pk"):
        summed = fills.get(order.pk, Decimal(0))
        if order.filled_quantity != summed:
            found.append(("filled_vs_fills", f"order {order.pk}: filled {order.filled_quantity}, fills sum {summed}"))
        if order.filled_quantity > order.quantity:
            found.append(("overfilled", f"order {order.pk}: filled {order.filled_quantity} of {order.quantity}"))
        venue = book.get(order.pk)
        if venue is not None and order.filled_quantity > venue.cumulative:
            found.append(
                ("filled_vs_venue", f"order {order.pk}: filled {order.filled_quantity}, venue {venue.cumulative}")
            )
        if quiescent and order.filled_quantity != (venue.cumulative if venue else Decimal(0)):
            found.append(("filled_vs_venue", f"order {order.pk}: filled {order.filled_quantity}, venue {venue}"))
        hold = order.hold
        if hold is not None:
            needed = hold_needed(order, scale)
            held = hold.remaining if hold.status == "active" else Decimal(0)
            if held != needed:
                found.append(
                    ("hold_mismatch", f"order {order.pk} ({order.status}): hold {held} ({hold.status}), needs {needed}")
                )
        if order.price_estimate is not None and order.status != "rejected":
            expected = notional_estimate(order, Terms.current(order), scale)
            if order.notional_estimate != expected:
                found.append(
                    (
                        "notional_estimate_stale",
                        f"order {order.pk}: notional estimate {order.notional_estimate}, terms say {expected}",
                    )
                )
        if quiescent:
            open_here = order.status in OPEN
            open_there = bool(venue and venue.working)
            if open_here and not open_there:
                found.append(("open_here_closed_there", f"order {order.pk} is {order.status} here, not working there"))
            if open_there and not open_here:
                found.append(("closed_here_open_there", f"order {order.pk} is {order.status} here, working there"))
    return found


def check_holds() -> list[Violation]:
    """No active hold without an open order needing it (an orphan reserves cash for nothing)."""
    found: list[Violation] = []
    for hold in Hold.objects.filter(status="active").select_related("order").order_by("pk"):
        order = getattr(hold, "order", None)
        if order is not None and order.status in TERMINAL and hold.remaining != hold_needed(order):
            found.append(("hold_mismatch", f"hold {hold.pk} of {order.status} order {order.pk}: {hold.remaining}"))
    return found


def check_instructions(*, quiescent: bool) -> list[Violation]:
    found: list[Violation] = []
    over = OrderInstruction.objects.filter(attempts__gt=MAX_ATTEMPTS).values_list("pk", "attempts")
    found += [("attempts_over_cap", f"instruction {pk}: {n} attempts") for pk, n in over]
    if quiescent:
        busy = OrderInstruction.objects.filter(
            status__in=[InstructionStatus.PENDING, InstructionStatus.IN_FLIGHT, InstructionStatus.UNKNOWN]
        ).values_list("pk", "action", "status")
        found += [("instruction_not_done", f"instruction {pk} ({action}) is {status}") for pk, action, status in busy]
        # dead within its cap is an end the relay may reach (the venue failed every attempt); dead
        # before it, the venue never refused anything for good here, so something gave up early
        dead = OrderInstruction.objects.filter(status=InstructionStatus.DEAD, attempts__lt=MAX_ATTEMPTS).values_list(
            "pk", "action", "last_error"
        )
        found += [("instruction_dead", f"instruction {pk} ({action}): {error}") for pk, action, error in dead]
    return found


def check_dead_letters(expected: set[str]) -> list[Violation]:
    """Every dead letter is in the staff's queue and can be read back for a replay; a dead letter
    the simulation did not cause on purpose (``expected``: exec ids it sent malformed) is a fault."""
    found: list[Violation] = []
    dead = ExecutionReportRecord.objects.filter(status="dead")
    queued = set(dead_letter_list().values_list("pk", flat=True))
    for record in dead.order_by("pk"):
        if record.pk not in queued:
            found.append(("dead_letter_hidden", f"report {record.exec_id} is dead but not in the queue"))
        try:
            report = report_from_payload(record.payload)
            readable = report_key(report) == record.exec_id
        except Exception:
            readable = False
        if not readable:
            found.append(("dead_letter_unreadable", f"report {record.exec_id} cannot be replayed"))
        if record.exec_id not in expected:
            found.append((f"dead_letter_{record.exec_type}", f"report {record.exec_id}: {record.error[:300]}"))
    return found


def check_books() -> list[Violation]:
    """Positions equal the ledger, filled quantities equal the fills, the ledger and the event
    chain verify (balances, holds equal reserved, nothing negative that must not be)."""
    found: list[Violation] = []
    differences, _, _ = books_differences_find()
    found += [("books", f"{d.kind}: {d.summary}") for d in differences]
    report = verify()
    found += [("ledger_verify", problem) for problem in report.problems]
    chain = event_chain_verify()
    found += [("event_chain", problem) for problem in chain.problems("event")]
    return found


def audit(
    truth: Truth, broker: str, *, quiescent: bool = False, expected_dead: set[str] | None = None
) -> list[Violation]:
    """Every check; an empty list when the books are right."""
    found = check_fills(truth, broker, quiescent=quiescent)
    found += check_orders(truth, broker, quiescent=quiescent)
    found += check_holds()
    found += check_instructions(quiescent=quiescent)
    found += check_dead_letters(expected_dead or set())
    found += check_books()
    if connection.in_atomic_block:  # the auditor reads committed state only
        found.append(("auditor", "the audit ran inside a transaction"))
    return found
