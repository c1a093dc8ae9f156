"""The broker adapter contract: ONE suite, run against every broker plugin.

Subclass :class:`AdapterContract` in a test module (named ``Test...``) and provide three fixtures:

- ``adapter``: the adapter under test, built through ``apps.brokers.registry.get_adapter``;
- ``make_ticket(**overrides)``: a new :class:`OrderTicket` (fresh ``order_id`` on every call)
  that the venue accepts and executes in full, at once or over a few polls (a marketable order
  on a symbol it knows, in a quantity it can fill);
- ``make_resting_ticket(**overrides)``: a new ticket the venue accepts and leaves working
  (a limit far from the market), or ``None`` if the venue never rests orders.

The invariants every report must satisfy are in :func:`check_report` and :func:`check_history`.
Quantities follow FIX: while an order works, ``cumulative + leaves == quantity``; a report
that ends an order without filling it (CANCELED, REJECTED, EXPIRED) has ``leaves == 0``.
Delivery is at least once: ``poll`` hands a report out again until it is acknowledged, and an
answer to a cancel or replace names the request it answers (``request_id``, the FIX ClOrdID).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from apps.brokers.interface import (
    FILL_TYPES,
    BrokerAdapter,
    BrokerOrder,
    BrokerPosition,
    Capabilities,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    ReplaceRequest,
)

KNOWN_ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
KNOWN_TIME_IN_FORCE = frozenset({"day", "gtc", "ioc", "fok"})
ENDS_UNFILLED = frozenset({ExecType.CANCELED, ExecType.REJECTED, ExecType.EXPIRED})
ANSWERS = frozenset({ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED})
DECIMAL_FIELDS = ("last_quantity", "fee", "cumulative_quantity", "leaves_quantity")
OPTIONAL_DECIMAL_FIELDS = ("last_price", "quantity", "limit_price", "stop_price")
MAX_POLLS = 20
_requests = iter(range(1, 10**9))


def request(ticket: OrderTicket) -> OrderTicket:
    """``ticket`` for a cancel or replace with its own request id (FIX ClOrdID), naming the one the
    venue works now, as the host always sends them (``{order_id}-{instruction_id}``): a request
    id is never reused, over FIX it could not be."""
    return replace(ticket, request_id=f"{ticket.order_id}-r{next(_requests)}", original_request_id=ticket.request_id)


def check_report(report: ExecutionReport, order_id: int) -> None:
    """One report, on its own: typed values, never floats, aware UTC time."""
    assert isinstance(report, ExecutionReport)
    assert report.order_id == order_id
    assert isinstance(report.exec_id, str) and report.exec_id
    assert isinstance(report.exec_type, ExecType)
    for name in DECIMAL_FIELDS:
        value = getattr(report, name)
        # Quantities are never negative; a fee may be (a rebate the venue pays).
        assert type(value) is Decimal and value.is_finite() and (name == "fee" or value >= 0), (name, value)
    for name in OPTIONAL_DECIMAL_FIELDS:
        value = getattr(report, name)
        assert value is None or (type(value) is Decimal and value.is_finite()), (name, value)
    assert report.broker_time is not None and report.broker_time.utcoffset() == timedelta(0)
    if report.exec_type in FILL_TYPES:
        assert report.last_quantity > 0
        assert report.last_price is not None and report.last_price > 0
    else:
        assert report.last_quantity == 0
    if report.exec_type in ENDS_UNFILLED | ANSWERS:
        assert report.text, f"{report.exec_type} must say why"
    if report.exec_type == ExecType.REPLACED:
        assert report.quantity is not None and report.quantity > 0


def check_history(ticket: OrderTicket, reports: Sequence[ExecutionReport]) -> None:
    """An order's reports in the order the venue produced them."""
    ids = [r.exec_id for r in reports]
    assert len(ids) == len(set(ids)), f"duplicate exec ids: {ids}"
    quantity, cumulative, done = ticket.quantity, Decimal(0), False
    lifecycle = [r for r in reports if r.exec_type not in ANSWERS]
    if lifecycle:
        assert lifecycle[0].exec_type in (ExecType.NEW, ExecType.REJECTED), "the first report acknowledges or rejects"
    for report in reports:
        check_report(report, ticket.order_id)
        if report.exec_type in ANSWERS:
            assert report.cumulative_quantity == cumulative
            assert report.leaves_quantity in (Decimal(0), quantity - cumulative)
            continue
        assert not done, f"{report.exec_type} after the order ended"
        if report.exec_type in FILL_TYPES:
            cumulative += report.last_quantity
        if report.exec_type == ExecType.REPLACED:
            assert report.quantity is not None
            quantity = report.quantity
        assert report.cumulative_quantity == cumulative, "cumulative quantity is the sum of the fills"
        assert cumulative <= quantity, "overfilled"
        if report.exec_type in ENDS_UNFILLED:
            assert report.leaves_quantity == 0
            done = True
        else:
            assert report.cumulative_quantity + report.leaves_quantity == quantity
            done = report.leaves_quantity == 0
        if report.exec_type in FILL_TYPES:
            assert (report.exec_type == ExecType.FILL) == (report.leaves_quantity == 0)


def poll_until_done(
    adapter: BrokerAdapter, ticket: OrderTicket, first: Iterable[ExecutionReport]
) -> list[ExecutionReport]:
    """The order's reports: ``first``, then what polls bring (each report once, acknowledged as
    the intake would), until nothing is left open."""
    history = list(first)
    for _ in range(MAX_POLLS):
        polled = list(adapter.poll())
        seen = {r.exec_id for r in history}
        history += [r for r in polled if r.order_id == ticket.order_id and r.exec_id not in seen]
        adapter.acknowledge([r.exec_id for r in polled])
        if history and (history[-1].leaves_quantity == 0):
            break
    return history


def drain(adapter: BrokerAdapter) -> list[ExecutionReport]:
    """Poll and acknowledge everything outstanding (a clean slate for a test)."""
    polled = list(adapter.poll())
    adapter.acknowledge([r.exec_id for r in polled])
    return polled


class AdapterContract:
    """Every broker plugin passes these. See the module docstring for the fixtures to provide."""

    def test_is_a_broker_adapter(self, adapter):
        assert isinstance(adapter, BrokerAdapter)
        assert isinstance(adapter.name, str) and adapter.name
        assert isinstance(adapter.capabilities, Capabilities)
        assert adapter.capabilities.order_types and adapter.capabilities.time_in_force

    def test_health_is_ok(self, adapter):
        health = adapter.health()
        assert isinstance(health, Health) and health.ok is True
        assert health.checked_at is None or health.checked_at.utcoffset() == timedelta(0)

    def test_submit_acknowledges_then_executes(self, adapter, make_ticket):
        ticket = make_ticket()
        first = list(adapter.submit(ticket))
        assert first and first[0].exec_type == ExecType.NEW
        history = poll_until_done(adapter, ticket, first)
        check_history(ticket, history)
        assert history[-1].exec_type == ExecType.FILL
        assert sum(r.last_quantity for r in history if r.exec_type in FILL_TYPES) == ticket.quantity
        assert all(r.broker_order_id == first[0].broker_order_id for r in history)

    def test_order_status_returns_what_happened(self, adapter, make_ticket):
        ticket = make_ticket()
        history = poll_until_done(adapter, ticket, adapter.submit(ticket))
        history += adapter.cancel(request(ticket))
        assert list(adapter.order_status(ticket)) == history
        check_history(ticket, adapter.order_status(ticket))

    def test_order_status_of_an_order_never_received_has_no_order(self, adapter, make_ticket):
        reports = adapter.order_status(make_ticket())
        assert all(r.exec_type in ANSWERS for r in reports)

    def test_resubmit_is_idempotent(self, adapter, make_ticket):
        ticket = make_ticket()
        history = poll_until_done(adapter, ticket, adapter.submit(ticket))
        positions = adapter.positions()
        again = list(adapter.submit(ticket))
        assert again == history == list(adapter.order_status(ticket))
        assert adapter.positions() == positions
        drain(adapter)
        assert [r for r in adapter.poll() if r.order_id == ticket.order_id] == []

    def test_exec_ids_are_unique_across_orders(self, adapter, make_ticket, make_resting_ticket):
        drain(adapter)
        seen: list[str] = []
        for _ in range(3):
            ticket = make_ticket()
            seen += [r.exec_id for r in poll_until_done(adapter, ticket, adapter.submit(ticket))]
            seen += [r.exec_id for r in adapter.cancel(request(ticket))]
        unknown = make_ticket()
        seen += [r.exec_id for r in adapter.cancel(request(unknown))] + [
            r.exec_id for r in adapter.cancel(request(unknown))
        ]
        resting = make_resting_ticket()
        if resting is not None:
            seen += [r.exec_id for r in adapter.submit(resting)] + [r.exec_id for r in adapter.cancel(request(resting))]
        seen += [r.exec_id for r in adapter.poll() if r.exec_id not in seen]  # redelivered ones are the same
        assert len(seen) == len(set(seen)), seen

    def test_cancel_of_an_unknown_order_is_cancel_rejected(self, adapter, make_ticket):
        ticket = make_ticket()
        first = adapter.cancel(replace(ticket, request_id=f"{ticket.order_id}-c1"))
        second = adapter.cancel(replace(ticket, request_id=f"{ticket.order_id}-c2"))
        for answer, request_id in ((first, f"{ticket.order_id}-c1"), (second, f"{ticket.order_id}-c2")):
            assert [r.exec_type for r in answer] == [ExecType.CANCEL_REJECTED]
            assert answer[0].request_id == request_id, "an answer names the request it answers"
            check_report(answer[0], ticket.order_id)
        assert first[0].exec_id != second[0].exec_id, "each answer is booked once, so each needs its own exec id"

    def test_cancel_of_a_filled_order_is_cancel_rejected(self, adapter, make_ticket):
        ticket = make_ticket()
        history = poll_until_done(adapter, ticket, adapter.submit(ticket))
        answer = adapter.cancel(request(ticket))
        assert [r.exec_type for r in answer] == [ExecType.CANCEL_REJECTED], answer
        check_history(ticket, history + list(answer))

    def test_cancel_of_a_resting_order(self, adapter, make_ticket, make_resting_ticket):
        ticket = make_resting_ticket()
        if ticket is None:
            # A venue that never rests orders finishes every order at once: nothing is left to cancel.
            done = make_ticket()
            history = poll_until_done(adapter, done, adapter.submit(done))
            history += adapter.cancel(request(done))
            assert history[-1].exec_type == ExecType.CANCEL_REJECTED
            check_history(done, history)
            return
        history = list(adapter.submit(ticket))
        assert [r.exec_type for r in history] == [ExecType.NEW]
        assert ticket.order_id in {o.order_id for o in adapter.open_orders()}
        cancel = replace(ticket, request_id=f"{ticket.order_id}-9", original_request_id=ticket.request_id)
        history += adapter.cancel(cancel)
        assert history[-1].exec_type == ExecType.CANCELED and history[-1].leaves_quantity == 0
        assert history[-1].request_id == cancel.request_id
        assert ticket.order_id not in {o.order_id for o in adapter.open_orders()}
        history += adapter.cancel(request(ticket))
        assert history[-1].exec_type == ExecType.CANCEL_REJECTED
        check_history(ticket, history)
        assert list(adapter.order_status(ticket)) == history

    def test_replace(self, adapter, make_ticket, make_resting_ticket):
        unknown = make_ticket()
        answer = adapter.replace(request(unknown), ReplaceRequest(quantity=unknown.quantity))
        assert [r.exec_type for r in answer] == [ExecType.REPLACE_REJECTED]
        ticket = make_resting_ticket()
        if ticket is None or not adapter.capabilities.supports_replace:
            filled = make_ticket()
            history = poll_until_done(adapter, filled, adapter.submit(filled))
            history += adapter.replace(request(filled), ReplaceRequest(quantity=filled.quantity * 2))
            assert history[-1].exec_type == ExecType.REPLACE_REJECTED
            check_history(filled, history)
            return
        history = list(adapter.submit(ticket))
        change = replace(ticket, request_id=f"{ticket.order_id}-7", original_request_id=ticket.request_id)
        history += adapter.replace(change, ReplaceRequest(quantity=ticket.quantity * 2))
        assert history[-1].exec_type == ExecType.REPLACED and history[-1].quantity == ticket.quantity * 2
        assert history[-1].request_id == change.request_id
        check_history(ticket, history)
        working = {o.order_id: o for o in adapter.open_orders()}[ticket.order_id]
        assert (working.quantity, working.request_id) == (ticket.quantity * 2, change.request_id)

    def test_order_types_outside_the_capabilities_are_rejected(self, adapter, make_ticket):
        unsupported = sorted((KNOWN_ORDER_TYPES | {"pegged"}) - adapter.capabilities.order_types)
        for order_type in unsupported:
            ticket = make_ticket(order_type=order_type)
            reports = adapter.submit(ticket)
            assert [r.exec_type for r in reports] == [ExecType.REJECTED], order_type
            check_history(ticket, reports)
            assert list(adapter.order_status(ticket)) == list(reports)

    def test_time_in_force_outside_the_capabilities_is_rejected(self, adapter, make_ticket):
        unsupported = sorted((KNOWN_TIME_IN_FORCE | {"gtd", "opg"}) - adapter.capabilities.time_in_force)
        for time_in_force in unsupported:
            ticket = make_ticket(time_in_force=time_in_force)
            reports = adapter.submit(ticket)
            assert [r.exec_type for r in reports] == [ExecType.REJECTED], time_in_force
            check_history(ticket, reports)

    def test_poll_hands_reports_out_until_acknowledged(self, adapter, make_ticket, make_resting_ticket):
        drain(adapter)
        answered: dict[str, ExecutionReport] = {}
        for factory in (make_ticket, make_resting_ticket):
            ticket = factory()
            if ticket is not None:
                answered |= {r.exec_id: r for r in adapter.submit(ticket)}
        first = list(adapter.poll())
        again = list(adapter.poll())
        assert set(answered) <= {r.exec_id for r in first}, "answers are redelivered until acknowledged"
        assert [r.exec_id for r in again][: len(first)] == [r.exec_id for r in first]
        assert all(answered.get(r.exec_id, r) == r for r in first), "a redelivered report is the same report"
        adapter.acknowledge([r.exec_id for r in again] + ["NO-SUCH-EXEC-ID"])
        adapter.acknowledge([r.exec_id for r in again])  # twice is harmless
        assert not {r.exec_id for r in adapter.poll()} & {r.exec_id for r in again}

    def test_open_orders_are_the_working_ones(self, adapter, make_ticket, make_resting_ticket):
        done = make_ticket()
        poll_until_done(adapter, done, adapter.submit(done))
        working = {o.order_id: o for o in adapter.open_orders()}
        assert done.order_id not in working
        resting = make_resting_ticket()
        if resting is None:
            return
        adapter.submit(resting)
        order = {o.order_id: o for o in adapter.open_orders()}[resting.order_id]
        assert isinstance(order, BrokerOrder)
        assert (order.quantity, order.cumulative_quantity, order.leaves_quantity) == (
            resting.quantity,
            Decimal(0),
            resting.quantity,
        )
        assert all(type(getattr(o, f)) is Decimal for o in working.values() for f in ("quantity", "leaves_quantity"))

    def test_positions_net_the_fills(self, adapter, make_ticket):
        buy = make_ticket(account_number="CONTRACT-POS", side="buy")
        poll_until_done(adapter, buy, adapter.submit(buy))
        sell = make_ticket(account_number="CONTRACT-POS", side="sell", quantity=buy.quantity / 2)
        poll_until_done(adapter, sell, adapter.submit(sell))
        mine = [p for p in adapter.positions() if p.account_number == "CONTRACT-POS"]
        assert mine == [BrokerPosition(account_number="CONTRACT-POS", symbol=buy.symbol, quantity=buy.quantity / 2)]
        assert all(type(p.quantity) is Decimal for p in adapter.positions())


def ticket_maker(base: OrderTicket, first_id: int = 1):
    """A ``make_ticket`` fixture body: ``base`` with a fresh order id and client order id per call."""
    counter = iter(range(first_id, first_id + 1_000_000))

    def make(**overrides: object) -> OrderTicket:
        order_id = overrides.pop("order_id", None) or next(counter)
        fields = {"client_order_id": f"C-{order_id}", "request_id": str(order_id), **overrides}
        return replace(base, order_id=order_id, **fields)  # type: ignore[arg-type]

    return make
