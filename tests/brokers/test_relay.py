"""The relay against a venue that fails the ways real ones do: answers lost in a timeout,
transient errors, permanent errors. A lost answer is resolved by asking the venue, never by
sending again; transient errors back off; permanent ones are dead-lettered for staff."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.brokers import registry, relay
from apps.brokers.interface import (
    BrokerError,
    BrokerTimeout,
    ExecType,
    ExecutionReport,
    OrderTicket,
    PluginSpec,
    ReplaceRequest,
)
from apps.brokers.models import AccountRoute, OrderInstruction
from apps.brokers.services import order_close_dead
from apps.core.errors import ApplicationError
from apps.ledger import services as ledger
from apps.ledger.models import LedgerAccount
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from apps.orders.tickets import ticket_for
from tests.plugins.dummy.plugin import DummyBroker

_coids = itertools.count(1)

pytestmark = pytest.mark.django_db


class FlakyVenue(DummyBroker):
    """The dummy venue, with a script of failures: per call, "timeout" (the venue took it, the
    answer is lost), "transient", "fatal", "crash-before" / "crash-after" (an unexpected exception
    before or after acting), "replace-timeout-before" (a replace lost before the venue acted).
    ``resting`` orders are acknowledged and rest (they can be replaced); others fill at once."""

    name = "flaky"
    script: list[str] = []
    submits = 0
    venue: FlakyVenue

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.forget = False
        self.resting: set[int] = set()
        FlakyVenue.venue = self

    def _step(self) -> str:
        return FlakyVenue.script.pop(0) if FlakyVenue.script else "ok"

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        FlakyVenue.submits += 1
        step = self._step()
        if step == "transient":
            raise BrokerError("connection reset", transient=True)
        if step == "fatal":
            raise BrokerError("unknown account at the venue")
        if step == "crash-before":
            raise RuntimeError("adapter bug before sending")
        if self.forget and step == "timeout":
            raise BrokerTimeout("no answer within 5 s")
        if ticket.client_order_id.startswith("rest-"):
            self.resting.add(ticket.order_id)
            if ticket.order_id not in self._orders:
                self._orders[ticket.order_id] = ticket
                self._report(ticket.order_id, ExecType.NEW, leaves_quantity=ticket.quantity)
            answer = list(self._reports[ticket.order_id])
        else:
            answer = list(super().submit(ticket))
        if step == "timeout":
            raise BrokerTimeout("no answer within 5 s")
        if step == "crash-after":
            raise RuntimeError("adapter bug after sending")
        return answer

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        step = self._step()
        if step == "replace-timeout-before":
            raise BrokerTimeout("no answer within 5 s")
        if ticket.order_id not in self.resting:
            return super().replace(ticket, request)
        return [
            self._report(
                ticket.order_id,
                ExecType.REPLACED,
                request_id=ticket.request_id,
                quantity=request.quantity,
                limit_price=request.limit_price or ticket.limit_price,
                leaves_quantity=request.quantity,
            )
        ]


@pytest.fixture
def flaky(settings, account, actor, instrument):
    FlakyVenue.script, FlakyVenue.submits = [], 0
    spec = PluginSpec(name="flaky", factory=FlakyVenue, default_settings={"price": "100.00", "fee": "1.00"})
    with registry.registered(spec):
        settings.BROKERS = {**settings.BROKERS, "flaky": {}}
        AccountRoute.objects.create(account=account, broker="flaky")
        ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="5000", idempotency_key="f")
        registry.get_adapter("flaky")  # built now, so that ``FlakyVenue.venue`` is this test's
        yield FlakyVenue


def place(actor, account, quantity="10", limit="100.00", tif="day", coid=None, resting=False):
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force=tif,
        client_order_id=("rest-" if resting else "") + (coid or f"c-{next(_coids)}"),
    )


def ledger_balance(account, purpose):
    return LedgerAccount.objects.get(trading_account=account, purpose=purpose, asset__code="USD").balance


def make_ready(order):
    OrderInstruction.objects.filter(order=order).update(available_at=timezone.now() - timedelta(seconds=1))


def test_a_lost_answer_is_resolved_by_asking_never_by_resending(flaky, account, actor):
    flaky.script = ["timeout"]
    order = place(actor, account)
    assert order.broker == "flaky"
    assert relay.relay_once() == 1
    instruction = OrderInstruction.objects.get(order=order)
    assert instruction.status == "unknown" and instruction.available_at > timezone.now()
    make_ready(order)
    assert relay.relay_once() == 1
    order.refresh_from_db()
    assert order.status == "filled"
    assert flaky.submits == 1  # asked for the status, did not send again
    assert OrderInstruction.objects.get(order=order).status == "done"


def test_transient_errors_back_off_then_succeed(flaky, account, actor):
    flaky.script = ["transient", "transient"]
    order = place(actor, account)
    for attempt in (1, 2):
        relay.relay_once()
        instruction = OrderInstruction.objects.get(order=order)
        assert (instruction.status, instruction.attempts) == ("pending", attempt)
        assert instruction.available_at >= timezone.now() + timedelta(seconds=2**attempt - 1)
        assert "connection reset" in instruction.last_error
        make_ready(order)
    relay.relay_once()
    order.refresh_from_db()
    assert order.status == "filled" and flaky.submits == 3


def test_a_permanent_error_is_dead_lettered_and_staff_close_the_order(flaky, account, actor):
    """Defect 7: an order whose submit was dead-lettered used to stay open with its hold forever.
    A client's cancel now ends it here (the submit never reached the venue), and staff can close
    one whose submit may have reached it once the venue confirms it has no such order."""
    flaky.script = ["fatal"]
    order = place(actor, account)
    relay.relay_once()
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.last_error) == ("dead", "unknown account at the venue")
    make_ready(order)
    assert relay.relay_once() == 0  # dead letters wait for staff, they are not retried
    order.refresh_from_db()
    assert order.status == "pending_new" and order.hold.remaining == Decimal("1001.00")
    canceled = order_cancel(actor=actor, order_id=order.pk)
    assert canceled.status == "canceled"
    order.refresh_from_db()
    assert order.hold.remaining == 0 and order.hold.status == "released"
    assert ledger_balance(account, "cash_reserved") == 0
    assert not OrderInstruction.objects.filter(order=order, action="cancel").exists()  # nothing to tell the venue


def test_staff_close_an_order_whose_submit_died_after_the_venue_confirms(flaky, account, actor, settings):
    settings.BROKERS_CIRCUIT_FAILURES = 100
    flaky.script = ["timeout"] + ["transient"] * relay.MAX_ATTEMPTS  # the venue may have it; then it is dead
    order = place(actor, account)
    flaky.venue.forget = True  # the venue never kept it (the timeout lost the order, not just the answer)
    for _ in range(relay.MAX_ATTEMPTS):
        make_ready(order)
        relay.relay_once()
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.maybe_delivered) == ("dead", True)
    assert order_cancel(actor=actor, order_id=order.pk).status == "pending_cancel"  # it may be there: ask
    with pytest.raises(ApplicationError) as refused:
        order_close_dead(actor=actor, order_id=order.pk, reason="  ")
    assert refused.value.code == "invalid"
    closed = order_close_dead(actor=actor, order_id=order.pk, reason="venue confirms no such order (ticket 42)")
    assert closed.status == "canceled"
    order.refresh_from_db()
    assert order.hold.remaining == 0 and ledger_balance(account, "cash_reserved") == 0
    last = order.events.order_by("-id").first()
    assert (last.kind, last.initiator, last.actor_id, last.data["reason"]) == (
        "canceled",
        "firm",
        actor.pk,
        "venue confirms no such order (ticket 42)",
    )
    assert set(OrderInstruction.objects.filter(order=order).values_list("action", "status")) == {
        ("submit", "dead"),
        ("cancel", "withdrawn"),
    }


def test_staff_cannot_close_an_order_the_venue_has(flaky, account, actor):
    order = place(actor, account)
    flaky.venue.submit(ticket_for(order))  # it reached the venue after all
    flaky.script = ["fatal"]
    relay.relay_once()
    with pytest.raises(ApplicationError) as info:
        order_close_dead(actor=actor, order_id=order.pk, reason="looks stuck")
    assert info.value.code == "venue_has_order"
    order.refresh_from_db()
    assert order.status == "pending_new" and order.hold.remaining == Decimal("1001.00")


def test_retries_are_bounded(flaky, account, actor, settings):
    settings.BROKERS_CIRCUIT_FAILURES = 100  # the circuit breaker is tested on its own
    flaky.script = ["transient"] * relay.MAX_ATTEMPTS
    order = place(actor, account)
    for _ in range(relay.MAX_ATTEMPTS):
        make_ready(order)
        relay.relay_once()
    assert OrderInstruction.objects.get(order=order).status == "dead"
    assert flaky.submits == relay.MAX_ATTEMPTS


def test_an_unexpected_exception_counts_as_an_attempt_and_is_resolved_by_asking(flaky, account, actor, settings):
    """Defect 5: anything but a BrokerError used to leave the instruction in flight, retried without
    the cap. Now it is an attempt whose outcome is unknown: the next run asks the venue."""
    settings.BROKERS_CIRCUIT_FAILURES = 100
    flaky.script = ["crash-after"]
    order = place(actor, account)
    relay.relay_once()
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.attempts, instruction.maybe_delivered) == ("unknown", 1, True)
    assert "RuntimeError" in instruction.last_error
    make_ready(order)
    relay.relay_once()
    order.refresh_from_db()
    assert order.status == "filled" and flaky.submits == 1  # the venue had it: asked, not resent


def test_unexpected_exceptions_are_capped(flaky, account, actor, settings):
    settings.BROKERS_CIRCUIT_FAILURES = 100
    flaky.script = ["crash-before"] * relay.MAX_ATTEMPTS
    order = place(actor, account)
    for _ in range(relay.MAX_ATTEMPTS + 2):
        make_ready(order)
        relay.relay_once()
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.attempts) == ("dead", relay.MAX_ATTEMPTS)


def test_a_worker_lost_on_the_last_attempt_leaves_the_instruction_dead_not_tried_again(flaky, account, actor, settings):
    """Seed 766: the worker died during the last attempt; the stale claim made the instruction
    unknown with its attempts spent, and the next run claimed it a ninth time."""
    settings.BROKERS_CIRCUIT_FAILURES = 100
    flaky.script = ["transient"] * (relay.MAX_ATTEMPTS - 1)
    order = place(actor, account)
    for _ in range(relay.MAX_ATTEMPTS - 1):
        make_ready(order)
        relay.relay_once()
    make_ready(order)
    claimed = relay._claim(10)  # the last attempt, and then the worker dies
    assert [(row.order_id, row.attempts) for row, _, _ in claimed] == [(order.pk, relay.MAX_ATTEMPTS)]
    OrderInstruction.objects.filter(order=order).update(claimed_at=timezone.now() - timedelta(hours=1))

    assert relay.relay_once() == 0
    instruction = OrderInstruction.objects.get(order=order)
    assert (instruction.status, instruction.attempts, instruction.maybe_delivered) == (
        "dead",
        relay.MAX_ATTEMPTS,
        True,
    )
    assert flaky.submits == relay.MAX_ATTEMPTS - 1  # the lost attempt never reached the venue


def test_a_cancel_of_an_order_never_sent_ends_it_here(flaky, account, actor):
    flaky.script = ["transient"]
    order = place(actor, account)
    relay.relay_once()  # the submit failed before reaching the venue; it backs off
    assert order_cancel(actor=actor, order_id=order.pk).status == "canceled"
    make_ready(order)
    assert relay.relay_once() == 0
    assert list(OrderInstruction.objects.filter(order=order).values_list("action", "status")) == [
        ("submit", "withdrawn")
    ]
    assert flaky.submits == 1


def test_a_cancel_waits_for_a_submit_that_may_have_reached_the_venue(flaky, account, actor):
    flaky.script = ["timeout"]
    order = place(actor, account)
    relay.relay_once()  # the venue took it, the answer was lost
    assert order_cancel(actor=actor, order_id=order.pk).status == "pending_cancel"
    make_ready(order)
    OrderInstruction.objects.filter(order=order, action="submit").update(
        available_at=timezone.now() + timedelta(hours=1)
    )
    assert relay.relay_once() == 0  # the cancel is not sent before the submit is resolved
    make_ready(order)
    assert relay.relay_once() == 1  # the submit, resolved by asking
    assert relay.relay_once() == 1  # then the cancel
    assert list(OrderInstruction.objects.filter(order=order).order_by("id").values_list("action", "status")) == [
        ("submit", "done"),
        ("cancel", "done"),
    ]
    order.refresh_from_db()
    assert order.status == "filled"  # the venue filled it first; its cancel rejection changes nothing
    assert flaky.submits == 1


def test_cancels_are_claimed_before_submits(flaky, account, actor):
    first = place(actor, account)
    flaky.script = ["timeout"]
    relay.relay_once()  # first: at the venue, answer lost
    OrderInstruction.objects.filter(order=first).update(status="done")
    second = place(actor, account, coid="second")
    order_cancel(actor=actor, order_id=first.pk)
    claimed = relay._claim(10)
    assert [(r.order_id, r.action) for r, _, _ in claimed] == [(first.pk, "cancel"), (second.pk, "submit")]


def test_an_older_replace_answer_does_not_resolve_a_newer_replace(flaky, account, actor):
    """Defect 6: after a replace whose outcome was unknown, an earlier REPLACED in the order's
    history was taken as its answer: the new replace was never sent. Answers are matched to the
    exact request (its ClOrdID)."""
    from apps.brokers.models import request_id_for

    order = place(actor, account, quantity="10", limit="90.00", tif="gtc", resting=True)
    relay.relay_once()
    order_replace(actor=actor, order_id=order.pk, quantity="12")
    relay.relay_once()  # the first replace: REPLACED
    order.refresh_from_db()
    assert (order.status, order.quantity) == ("new", 12)
    flaky.script = ["replace-timeout-before"]  # the second replace is lost before the venue acts
    order_replace(actor=actor, order_id=order.pk, quantity="14")
    relay.relay_once()
    second = OrderInstruction.objects.filter(order=order, action="replace").order_by("-id").first()
    assert second.status == "unknown"
    make_ready(order)
    relay.relay_once()  # asks; the older REPLACED is not this request's answer: sends it
    order.refresh_from_db()
    assert (order.status, order.quantity, order.pending_replace) == ("new", 14, None)
    assert order.working_request_id == request_id_for(order.pk, second.pk, "replace")
    assert order.hold.remaining == Decimal("1261.00")  # 14 x 90.00 + 1.00
