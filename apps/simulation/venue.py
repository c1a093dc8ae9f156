"""A simulated venue: an in-memory broker adapter that does, deterministically under a seed,
everything a real venue does to a back office.

It acknowledges late (answers only through ``poll``), fills partially at any time (also while a
cancel or replace is pending, and after a cancel it rejected), rejects orders, cancels and
replaces, defers its answer to a cancel or replace, cancels unsolicited, expires DAY orders,
charges fees and pays rebates, reorders and duplicates reports, drops reports (then recovered
only through ``order_status``, as after a lost session), times out a call after acting on it,
raises unexpected errors before or after acting, goes down, and restarts (keeping its book,
losing the reports it had not delivered).

Its fills stay within the model the back office relies on: a buy never executes above its limit
(a market buy at the reference price), a sell never below, fees never above the commission
estimate. Everything it ever produced stays in :attr:`SimVenue.log`: the truth the auditor
compares the books with. It also records what a correct client never does to it
(:attr:`SimVenue.misuse`): a submit of an order it already has, a request about an order that a
request of the same id already answered.

Randomness comes only from :attr:`SimVenue.rng`, which the driver reseeds at every step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from apps.brokers.interface import (
    FILL_TYPES,
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    BrokerTimeout,
    Capabilities,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    ReplaceRequest,
)

NAME = "sim"
CAPABILITIES = Capabilities(
    order_types=frozenset({"market", "limit", "stop", "stop_limit"}),
    time_in_force=frozenset({"day", "gtc", "ioc", "fok"}),
    supports_replace=True,
)
CENT = Decimal("0.01")
FEE_PER_SHARE = Decimal("0.003")  # below the firm's commission estimate (0.005, minimum 1.00)
REBATE_PER_SHARE = Decimal("0.002")
WORKING = ("new", "partially_filled")


@dataclass
class Faults:
    """How often the venue misbehaves, per call or per report (probabilities in [0, 1])."""

    refuse: float = 0.0  # a transient refusal before acting (BrokerError, transient)
    error_before: float = 0.0  # an unexpected exception before acting
    timeout: float = 0.0  # acted, then no answer (BrokerTimeout)
    error_after: float = 0.0  # acted, then an unexpected exception
    late: float = 0.0  # acted, answered nothing now: the reports come through poll
    reject_new: float = 0.0
    reject_cancel: float = 0.0
    reject_replace: float = 0.0
    defer: float = 0.0  # a cancel or replace answered later (a venue step answers it)
    fill_on_entry: float = 0.5  # a marketable order executes (partly) at once
    partial: float = 0.6  # a fill takes part of what is left, not all of it
    drop: float = 0.0  # a report is never delivered by poll (order_status still has it)
    duplicate: float = 0.0  # poll hands a report out twice
    reorder: bool = False  # poll interleaves orders in another order (each order's own order kept)

    @classmethod
    def calm(cls) -> Faults:
        return cls()


@dataclass
class VenueOrder:
    ticket: OrderTicket
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    request_id: str  # the ClOrdID whose terms it works
    cumulative: Decimal = Decimal(0)
    status: str = "new"
    triggered: bool = False

    @property
    def leaves(self) -> Decimal:
        return self.quantity - self.cumulative if self.status in WORKING else Decimal(0)


@dataclass
class Deferred:
    kind: str  # "cancel" | "replace"
    ticket: OrderTicket
    request: ReplaceRequest | None = None


@dataclass
class SimVenue:
    """The simulated venue. ``prices`` are the venue's market (the driver moves them)."""

    clock: Callable[[], datetime]
    prices: dict[str, Decimal] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    name: str = NAME
    capabilities: Capabilities = CAPABILITIES
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    down: bool = False
    log: list[ExecutionReport] = field(default_factory=list)
    orders: dict[int, VenueOrder] = field(default_factory=dict)
    deferred: list[Deferred] = field(default_factory=list)
    unacked: list[str] = field(default_factory=list)  # delivered by poll until acknowledged
    acknowledged: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    misuse: list[str] = field(default_factory=list)
    calls: int = 0
    _seq: int = 0
    _by_id: dict[str, ExecutionReport] = field(default_factory=dict)

    def reseed(self, salt: int) -> None:
        self.rng = random.Random(salt)

    # --- the adapter interface -------------------------------------------------------------

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        return self._call(lambda: self._submit(ticket))

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        return self._call(lambda: self._request(Deferred("cancel", ticket)))

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        return self._call(lambda: self._request(Deferred("replace", ticket, request)))

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        self._before()
        return [r for r in self.log if r.order_id == ticket.order_id]

    def poll(self) -> Sequence[ExecutionReport]:
        if self.down:
            raise BrokerError("venue down: connection refused", transient=True)
        reports = [self._by_id[x] for x in self.unacked]
        if self.faults.reorder and reports:
            reports = self._interleave(reports)
        out: list[ExecutionReport] = []
        for report in reports:
            out.append(report)
            if self.rng.random() < self.faults.duplicate:
                out.append(report)
        return out

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        if self.down:
            raise BrokerError("venue down: connection refused", transient=True)
        done = set(exec_ids) & set(self._by_id)
        self.acknowledged |= done
        self.unacked = [x for x in self.unacked if x not in done]

    def open_orders(self) -> Sequence[BrokerOrder]:
        self._before()
        return [
            BrokerOrder(
                order_id=o.ticket.order_id,
                broker_order_id=_venue_id(o.ticket.order_id),
                quantity=o.quantity,
                cumulative_quantity=o.cumulative,
                leaves_quantity=o.leaves,
                status=o.status,
                request_id=o.request_id,
            )
            for o in sorted(self.orders.values(), key=lambda o: o.ticket.order_id)
            if o.status in WORKING
        ]

    def positions(self) -> Sequence[BrokerPosition]:
        self._before()
        held: dict[tuple[str, str], Decimal] = {}
        for report in self.log:
            if report.exec_type in FILL_TYPES:
                ticket = self.orders[report.order_id].ticket
                sign = 1 if ticket.side == "buy" else -1
                key = (ticket.account_number, ticket.symbol)
                held[key] = held.get(key, Decimal(0)) + sign * report.last_quantity
        return [BrokerPosition(a, s, q) for (a, s), q in sorted(held.items()) if q]

    def health(self) -> Health:
        return Health(ok=not self.down, detail="down" if self.down else "", checked_at=self.clock())

    # --- what the venue does on its own (the driver's venue steps) -------------------------

    def working(self) -> list[VenueOrder]:
        return [o for o in sorted(self.orders.values(), key=lambda o: o.ticket.order_id) if o.status in WORKING]

    def fill_some(self, order_id: int, *, forced: bool, quantity: Decimal | None = None) -> list[ExecutionReport]:
        """Execute part or all of a working order (``quantity``, else a random part) if the market
        allows (``forced``: a resting limit executes at its limit even if the reference price has
        not crossed it)."""
        order = self.orders[order_id]
        if order.status not in WORKING:
            return []
        price = self._price(order, forced=forced)
        if price is None:
            return []
        if quantity is None:
            quantity = Decimal(
                self.rng.randint(1, int(order.leaves)) if self.rng.random() < self.faults.partial else order.leaves
            )
        return [self._fill(order, quantity, price)]

    def cancel_unsolicited(self, order_id: int) -> list[ExecutionReport]:
        order = self.orders[order_id]
        if order.status not in WORKING:
            return []
        order.status = "canceled"
        return [self._report(order, ExecType.CANCELED, text="canceled by the venue")]

    def expire_day_orders(self) -> list[ExecutionReport]:
        out = []
        for order in self.working():
            if order.ticket.time_in_force == "day":
                order.status = "expired"
                out.append(self._report(order, ExecType.EXPIRED, text="session closed"))
        return out

    def trigger_stops(self) -> list[ExecutionReport]:
        out: list[ExecutionReport] = []
        for order in self.working():
            if order.stop_price is not None and not order.triggered and self._stop_reached(order):
                order.triggered = True
                out += self.fill_some(order.ticket.order_id, forced=False)
        return out

    def answer_deferred(self, index: int) -> list[ExecutionReport]:
        if not self.deferred:
            return []
        request = self.deferred.pop(index % len(self.deferred))
        return self._answer(request)

    def restart(self) -> None:
        """Keep the book, lose the session: what was not delivered yet is only in the book now."""
        self.dropped |= set(self.unacked)
        self.unacked = []

    # --- internals -------------------------------------------------------------------------

    def _before(self) -> None:
        self.calls += 1
        if self.down:
            raise BrokerError("venue down: connection refused", transient=True)
        roll = self.rng.random()
        if roll < self.faults.refuse:
            raise BrokerError("venue busy, try again", transient=True)
        if roll < self.faults.refuse + self.faults.error_before:
            raise ConnectionResetError("connection reset by the venue")

    def _call(self, act: Callable[[], list[ExecutionReport]]) -> list[ExecutionReport]:
        self._before()
        reports = act()
        roll = self.rng.random()
        if roll < self.faults.timeout:
            raise BrokerTimeout("no answer from the venue in time")
        if roll < self.faults.timeout + self.faults.error_after:
            raise RuntimeError("session dropped after the request was sent")
        if self.rng.random() < self.faults.late:
            return []
        return [r for r in reports if r.exec_id not in self.dropped]

    def _submit(self, ticket: OrderTicket) -> list[ExecutionReport]:
        known = self.orders.get(ticket.order_id)
        if known is not None:
            self.misuse.append(f"order {ticket.order_id} submitted twice (request {ticket.request_id})")
            return [r for r in self.log if r.order_id == ticket.order_id]
        order = VenueOrder(ticket, ticket.quantity, ticket.limit_price, ticket.stop_price, ticket.request_id)
        self.orders[ticket.order_id] = order
        if ticket.order_type not in CAPABILITIES.order_types or ticket.time_in_force not in CAPABILITIES.time_in_force:
            order.status = "rejected"
            text = f"unsupported: {ticket.order_type} {ticket.time_in_force}"
            return [self._report(order, ExecType.REJECTED, text=text)]
        if self.rng.random() < self.faults.reject_new:
            order.status = "rejected"
            return [self._report(order, ExecType.REJECTED, text="order refused by the venue")]
        out = [self._report(order, ExecType.NEW)]
        if order.stop_price is not None and self._stop_reached(order):
            order.triggered = True
        tif = ticket.time_in_force
        price = self._price(order, forced=False)
        if tif == "fok":
            if price is not None:
                out.append(self._fill(order, order.leaves, price))
            else:
                order.status = "canceled"
                out.append(self._report(order, ExecType.CANCELED, text="FOK could not be filled in full"))
        elif tif == "ioc":
            if price is not None:
                quantity = self.rng.randint(1, int(order.leaves))
                out.append(self._fill(order, Decimal(quantity), price))
            if order.status in WORKING:
                order.status = "canceled"
                out.append(self._report(order, ExecType.CANCELED, text="IOC remainder canceled"))
        elif price is not None and self.rng.random() < self.faults.fill_on_entry:
            out += self.fill_some(ticket.order_id, forced=False)
        return out

    def _request(self, request: Deferred) -> list[ExecutionReport]:
        ticket = request.ticket
        answers = (ExecType.CANCELED, ExecType.REPLACED, ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED)
        if any(
            r.order_id == ticket.order_id and r.request_id == ticket.request_id and r.exec_type in answers
            for r in self.log
        ):
            self.misuse.append(f"order {ticket.order_id}: request {ticket.request_id} sent again after its answer")
        if any(
            d.ticket.request_id == ticket.request_id and d.ticket.order_id == ticket.order_id for d in self.deferred
        ):
            return []  # the same request again while the venue still works on it: one answer, later
        order = self.orders.get(ticket.order_id)
        if order is not None and order.status in WORKING and self.rng.random() < self.faults.defer:
            self.deferred.append(request)
            return []
        return self._answer(request)

    def _answer(self, request: Deferred) -> list[ExecutionReport]:
        ticket = request.ticket
        order = self.orders.get(ticket.order_id)
        reject = ExecType.CANCEL_REJECTED if request.kind == "cancel" else ExecType.REPLACE_REJECTED
        if order is None:
            return [self._answer_report(ticket, reject, "unknown order")]
        if order.status not in WORKING:
            return [self._report(order, reject, request_id=ticket.request_id, text=f"too late: order {order.status}")]
        chance = self.faults.reject_cancel if request.kind == "cancel" else self.faults.reject_replace
        if self.rng.random() < chance:
            return [self._report(order, reject, request_id=ticket.request_id, text="refused by the venue")]
        if request.kind == "cancel":
            order.status = "canceled"
            return [self._report(order, ExecType.CANCELED, request_id=ticket.request_id, text="canceled on request")]
        new = request.request
        assert new is not None
        if new.quantity <= order.cumulative:
            text = "the new quantity is not above what was executed"
            return [self._report(order, reject, request_id=ticket.request_id, text=text)]
        order.quantity = new.quantity
        order.limit_price = new.limit_price if new.limit_price is not None else order.limit_price
        order.stop_price = new.stop_price if new.stop_price is not None else order.stop_price
        order.request_id = ticket.request_id
        out = [self._report(order, ExecType.REPLACED, request_id=ticket.request_id, text="replaced")]
        if self.rng.random() < self.faults.fill_on_entry:
            out += self.fill_some(ticket.order_id, forced=False)
        return out

    def _stop_reached(self, order: VenueOrder) -> bool:
        assert order.stop_price is not None
        price = self.prices[order.ticket.symbol]
        return price >= order.stop_price if order.ticket.side == "buy" else price <= order.stop_price

    def _price(self, order: VenueOrder, *, forced: bool) -> Decimal | None:
        """The price the order executes at now, or None (a buy never above its limit, a sell never below)."""
        if order.stop_price is not None and not order.triggered:
            return None
        market = self.prices[order.ticket.symbol]
        limit = order.limit_price if order.ticket.order_type in ("limit", "stop_limit") else None
        if limit is None:
            return market
        buy = order.ticket.side == "buy"
        if (buy and market <= limit) or (not buy and market >= limit):
            return market
        return limit if forced else None

    def _fill(self, order: VenueOrder, quantity: Decimal, price: Decimal) -> ExecutionReport:
        quantity = min(quantity, order.leaves)
        order.cumulative += quantity
        done = order.cumulative == order.quantity
        if done:
            order.status = "filled"
        elif order.status == "new":
            order.status = "partially_filled"
        roll = self.rng.random()
        if roll < 0.2:
            fee = -(quantity * REBATE_PER_SHARE).quantize(CENT, ROUND_DOWN)  # a rebate
        elif roll < 0.4:
            fee = Decimal("0.00")
        else:
            fee = (quantity * FEE_PER_SHARE).quantize(CENT, ROUND_DOWN)
        return self._report(
            order,
            ExecType.FILL if done else ExecType.PARTIAL_FILL,
            last_quantity=quantity,
            last_price=price,
            fee=fee,
        )

    def _next_id(self) -> str:
        self._seq += 1
        return f"SIM-{self._seq}"

    def _report(
        self, order: VenueOrder, exec_type: ExecType, *, request_id: str = "", **values: object
    ) -> ExecutionReport:
        ends = exec_type in (ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED)
        report = ExecutionReport(
            exec_id=self._next_id(),
            order_id=order.ticket.order_id,
            exec_type=exec_type,
            broker_order_id=_venue_id(order.ticket.order_id),
            cumulative_quantity=order.cumulative,
            leaves_quantity=Decimal(0) if ends else order.leaves,
            broker_time=self.clock(),
            request_id=request_id or order.request_id,
            quantity=order.quantity,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            **values,  # type: ignore[arg-type]
        )
        if exec_type in (ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED):
            report = replace(report, leaves_quantity=order.leaves)
        return self._emit(report)

    def _answer_report(self, ticket: OrderTicket, exec_type: ExecType, text: str) -> ExecutionReport:
        report = ExecutionReport(
            exec_id=self._next_id(),
            order_id=ticket.order_id,
            exec_type=exec_type,
            broker_time=self.clock(),
            request_id=ticket.request_id,
            text=text,
        )
        return self._emit(report)

    def _emit(self, report: ExecutionReport) -> ExecutionReport:
        self.log.append(report)
        self._by_id[report.exec_id] = report
        if self.rng.random() < self.faults.drop:
            self.dropped.add(report.exec_id)
        else:
            self.unacked.append(report.exec_id)
        return report

    def _interleave(self, reports: list[ExecutionReport]) -> list[ExecutionReport]:
        """Another interleaving of the orders' reports; each order's own reports keep their order."""
        queues: dict[int, list[ExecutionReport]] = {}
        for report in reports:
            queues.setdefault(report.order_id, []).append(report)
        out: list[ExecutionReport] = []
        keys = list(queues)
        while keys:
            key = self.rng.choice(keys)
            out.append(queues[key].pop(0))
            if not queues[key]:
                keys.remove(key)
        return out


def _venue_id(order_id: int) -> str:
    return f"V{order_id}"
