"""A small in-memory venue for the broker-reconciliation tests, registered with
``apps.brokers.registry.registered``: orders rest until the test fills them; ``open_orders`` and
``positions`` tell what the venue did, whether or not our side heard about it. The test decides
which reports reach our intake (``book``), so a lost report is simply one never booked."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from apps.brokers import intake, registry, relay
from apps.brokers.interface import (
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    BrokerTimeout,
    Capabilities,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    PluginSpec,
    ReplaceRequest,
)
from apps.orders.models import Order
from apps.orders.placement import order_place

_exec_ids = itertools.count(1)
_client_ids = itertools.count(1)


class Venue:
    name = "venue"
    capabilities = Capabilities(order_types=frozenset({"market", "limit"}), time_in_force=frozenset({"day", "gtc"}))

    def __init__(self, settings: Mapping[str, object]) -> None:
        self.tickets: dict[int, OrderTicket] = {}
        self.working: dict[int, BrokerOrder] = {}
        self.net: dict[tuple[str, str], Decimal] = {}
        self.extra_orders: list[BrokerOrder] = []  # what else the venue claims to work
        self.extra_positions: list[BrokerPosition] = []
        self.down = ""  # open_orders raises BrokerError(down) when set
        self.next_submit = ""  # "timeout" (never reached the venue, answer lost) | "fatal"
        self.ignore_cancels = False  # confirm a cancel but keep working the order (a venue bug)

    def _report(self, order_id: int, exec_type: ExecType, **fields: object) -> ExecutionReport:
        return ExecutionReport(
            exec_id=f"{self.name.upper()}-{next(_exec_ids)}",
            order_id=order_id,
            exec_type=exec_type,
            broker_order_id=f"{self.name.upper()}-{order_id}",
            broker_time=datetime.now(UTC),
            **fields,  # type: ignore[arg-type]
        )

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        step, self.next_submit = self.next_submit, ""
        if step == "timeout":
            raise BrokerTimeout("no answer")
        if step == "fatal":
            raise BrokerError("unknown account at the venue")
        self.tickets[ticket.order_id] = ticket
        self.working[ticket.order_id] = BrokerOrder(
            order_id=ticket.order_id,
            broker_order_id=f"{self.name.upper()}-{ticket.order_id}",
            quantity=ticket.quantity,
            cumulative_quantity=Decimal(0),
            leaves_quantity=ticket.quantity,
            request_id=ticket.request_id,
        )
        return [self._report(ticket.order_id, ExecType.NEW, leaves_quantity=ticket.quantity)]

    def fill(self, order_id: int, quantity: str, price: str = "100.00") -> ExecutionReport:
        """The venue executes ``quantity`` of a working order; the report is returned, not delivered."""
        ticket, working = self.tickets[order_id], self.working[order_id]
        qty = Decimal(quantity)
        cumulative, leaves = working.cumulative_quantity + qty, working.leaves_quantity - qty
        if leaves:
            self.working[order_id] = replace(
                working, cumulative_quantity=cumulative, leaves_quantity=leaves, status="partially_filled"
            )
        else:
            del self.working[order_id]
        pair = (ticket.account_number, ticket.symbol)
        self.net[pair] = self.net.get(pair, Decimal(0)) + (qty if ticket.side == "buy" else -qty)
        return self._report(
            order_id,
            ExecType.FILL if not leaves else ExecType.PARTIAL_FILL,
            last_quantity=qty,
            last_price=Decimal(price),
            cumulative_quantity=cumulative,
            leaves_quantity=leaves,
        )

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        working = self.working.get(ticket.order_id)
        if working is None:
            return [self._report(ticket.order_id, ExecType.CANCEL_REJECTED, request_id=ticket.request_id)]
        if not self.ignore_cancels:
            del self.working[ticket.order_id]
        return [
            self._report(
                ticket.order_id,
                ExecType.CANCELED,
                request_id=ticket.request_id,
                cumulative_quantity=working.cumulative_quantity,
            )
        ]

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        return [self._report(ticket.order_id, ExecType.REPLACE_REJECTED, request_id=ticket.request_id)]

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        return []

    def poll(self) -> Sequence[ExecutionReport]:
        return []

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        return None

    def open_orders(self) -> Sequence[BrokerOrder]:
        if self.down:
            raise BrokerError(self.down, transient=True)
        return [*self.working.values(), *self.extra_orders]

    def positions(self) -> Sequence[BrokerPosition]:
        held = [BrokerPosition(a, s, q) for (a, s), q in sorted(self.net.items()) if q]
        return [*held, *self.extra_positions]

    def health(self) -> Health:
        return Health(ok=not self.down, detail=self.down)


class OtherVenue(Venue):
    name = "other"


@contextmanager
def venues(settings, *classes: type[Venue]) -> Iterator[list[Venue]]:  # type: ignore[no-untyped-def]
    """Enable exactly these venues (the paper broker off) and yield their adapters."""
    settings.BROKERS = {cls.name: {} for cls in classes}
    with ExitStack() as stack:
        for cls in classes:
            stack.enter_context(registry.registered(PluginSpec(name=cls.name, factory=cls)))
        yield [registry.get_adapter(cls.name) for cls in classes]  # type: ignore[misc]


def place(actor, account, quantity: str = "10", side: str = "buy", limit: str = "100.00") -> Order:  # type: ignore[no-untyped-def]
    order = order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side=side,
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force="gtc",
        client_order_id=f"vr-{next(_client_ids)}",
    )
    assert order.status == "pending_new", order.reject_reason
    return order


def send() -> None:
    """The relay hands every ready instruction to its venue and books the answers."""
    relay.relay_once()


def book(broker: str, report: ExecutionReport) -> None:
    assert intake.receive(broker, report) == "applied"
