"""The FIX session's behaviour under faults, end to end: logon, heartbeats and logout, a dropped
connection and the resend of what was missed, a sequence gap, a PossDup repeat, a venue restart,
reports the back office must not book (dead letters), an unsolicited cancel, rejections and
reports out of order. The venue is the real local peer (QuickFIX on both ends, over TCP), the
gateway runs in this process, the database is real (transactional tests)."""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import quickfix as fix

from apps.brokers.models import AccountRoute, ExecutionReportRecord
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.ledger.models import Purpose
from apps.orders.models import EventKind, Fill, Order, OrderEvent
from apps.orders.services import order_replace
from plugins.fix44.gateway import Gateway
from plugins.fix44.models import InboundReport
from plugins.fix44.venue import Venue
from plugins.fix44.venue_book import FILLED, NEW
from tests.conftest import balance
from tests.plugins.fix44.test_gateway import eventually, free_port, place, prices, session_settings, status_of

pytestmark = pytest.mark.django_db(transaction=True)
DEPOSIT = Decimal("100000")


def new_venue(port: int, data_dir: Any) -> Venue:
    return Venue(port=port, data_dir=data_dir, markets=prices, sweep_seconds=0.1).start()


@pytest.fixture
def line(request, settings, tmp_path, account, actor, instrument):  # type: ignore[no-untyped-def]
    """A venue and a logged-on gateway; ``line.venue`` may be replaced by a restarted venue.
    Indirect parameters override the session's settings."""
    port = free_port()
    overrides = getattr(request, "param", {})
    settings.BROKERS = {**settings.BROKERS, "fix44": session_settings(port, tmp_path / "gateway", **overrides)}
    AccountRoute.objects.create(account=account, broker="fix44")
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount=DEPOSIT, idempotency_key="fx")
    fatal: list[BaseException] = []
    state = SimpleNamespace(venue=new_venue(port, tmp_path / "venue"), port=port, venue_dir=tmp_path / "venue")
    state.gateway = Gateway("fix44", on_fatal=fatal.append)
    state.gateway.start()
    try:
        eventually(state.gateway.link.logged_on.is_set)
        eventually(lambda: mass_status_answered(state.gateway.link))  # the logon's resync is under way
        yield state
    finally:
        state.gateway.stop()
        state.venue.stop()
    assert fatal == []


def mass_status_answered(link: Any, besides: frozenset[str | None] | set[str | None] = frozenset()) -> bool:
    """The venue answered an OrderMassStatusRequest (the gateway sends one after every logon),
    other than those ``besides``."""
    return any(m.get(912) == "Y" for m in link.answers(lambda m: m.get(584) not in {None, *besides}))


def engine_session(session_id: Any) -> Any:
    session = fix.Session.lookupSession(session_id)
    assert session is not None
    return session


def journal_quiet() -> bool:
    return not InboundReport.objects.filter(acknowledged_at__isnull=True).exists()


def fills_by_exec_id(order: Order) -> dict[str, int]:
    counts: dict[str, int] = {}
    for exec_id in Fill.objects.filter(order=order).values_list("exec_id", flat=True):
        counts[exec_id] = counts.get(exec_id, 0) + 1
    return counts


def venue_trades(venue: Venue, order: Order, earlier: list[dict[str, str]] = []) -> list[dict[str, str]]:  # noqa: B006
    """The venue's executions for ``order`` (its book keeps them in memory: ``earlier`` are those
    of the venue before a restart)."""
    return [t for t in [*earlier, *venue.book.trades()] if t["cl_ord_id"] == str(order.pk)]


def dead_letters() -> list[ExecutionReportRecord]:
    return list(ExecutionReportRecord.objects.filter(broker="fix44", status="dead"))


def test_logon_heartbeats_and_a_clean_logout(line):
    link, venue = line.gateway.link, line.venue
    assert link.logons == 1 and venue.is_logged_on()
    ours, theirs = engine_session(link.session_id), engine_session(venue.session_id)
    received, sent = ours.getExpectedTargetNum(), ours.getExpectedSenderNum()
    # Idle: heartbeats move the sequence numbers, at least one a second each way (HeartBtInt=1).
    eventually(lambda: ours.getExpectedTargetNum() >= received + 3 and theirs.getExpectedTargetNum() >= sent + 3, 10)
    assert link.logons == 1 and link.logged_on.is_set() and venue.is_logged_on()  # > 3 s idle, never dropped
    assert not venue.logged_off.is_set()
    line.gateway.stop()  # sends a Logout and waits for the venue's answer
    eventually(venue.logged_off.is_set)  # the venue received our Logout
    assert not link.logged_on.is_set() and not venue.is_logged_on()


def test_a_dropped_connection_reconnects_and_the_missed_fill_is_resent(line, actor, account, instrument):
    venue, link = line.venue, line.gateway.link
    order = place(actor, account, type="limit", limit_price="95.00")
    eventually(lambda: status_of(order) == "new")
    venue.drop_connection(stay_down=True)
    eventually(lambda: not link.logged_on.is_set())
    theirs = engine_session(venue.session_id)
    stored = theirs.getExpectedSenderNum()
    reference_price_set(actor=actor, instrument=instrument, price="94.50")
    eventually(lambda: venue.book.find(str(order.pk)).status == FILLED)  # filled while we are away
    eventually(lambda: theirs.getExpectedSenderNum() == stored + 1)  # its report is in the venue's store
    assert not venue.is_logged_on() and status_of(order) == "new"
    venue.accept_logons()
    eventually(lambda: status_of(order) == "filled")
    (trade,) = venue_trades(venue, order)
    assert fills_by_exec_id(order) == {trade["exec_id"]: 1}
    assert Fill.objects.get(order=order).price == Decimal("94.50")
    resent = InboundReport.objects.get(exec_id=trade["exec_id"])
    assert resent.poss_dup  # it came by the engine's resend after the logon, 43=Y
    assert link.logons >= 2
    eventually(journal_quiet)
    assert dead_letters() == []


@pytest.mark.parametrize("line", [{"answer_timeout_seconds": "1"}], indirect=True)
def test_a_logon_resync_the_venue_answers_too_late_is_asked_again(line, caplog):
    venue, link = line.venue, line.gateway.link
    venue.drop_connection(stay_down=True)
    eventually(lambda: not link.logged_on.is_set())
    venue.hold_reports()  # the answer to the next logon's mass status request is held back
    asked = {m.get(584) for m in link.answers(lambda m: m.get(584) is not None)}
    venue.accept_logons()
    eventually(lambda: link.logons == 2 and venue.held_count() > 0)
    eventually(lambda: "did not answer the mass status request" in caplog.text)  # that resync failed
    venue.release_reports(reverse=False)
    # A resync after the logon is not given up: the venue is asked again, and answers this time.
    eventually(lambda: mass_status_answered(link, besides=asked | timed_out(caplog.text)))
    assert link.logons == 2


def timed_out(log: str) -> set[str | None]:
    return set(re.findall(r"did not answer the mass status request (\S+) in time", log))


def test_a_sequence_gap_is_filled_and_orders_still_round_trip(line, actor, account):
    venue, link = line.venue, line.gateway.link
    ours = engine_session(link.session_id)
    expected = ours.getExpectedTargetNum()
    venue.skip_sequence_numbers(5)
    order = place(actor, account)
    eventually(lambda: status_of(order) == "filled")
    theirs = engine_session(venue.session_id)
    # The gap was filled (SequenceReset-GapFill): we expect what the venue sends next, the same session.
    eventually(lambda: ours.getExpectedTargetNum() == theirs.getExpectedSenderNum())
    assert ours.getExpectedTargetNum() >= expected + 5 + 2  # past the 5 skipped, NEW and the fill
    assert link.logons == 1
    (trade,) = venue_trades(venue, order)
    assert fills_by_exec_id(order) == {trade["exec_id"]: 1}
    eventually(journal_quiet)
    assert dead_letters() == []
    assert not InboundReport.objects.exclude(problem="").exists()


def test_a_possdup_repeat_of_a_fill_is_journaled_and_booked_once(line, actor, account, instrument):
    venue, link = line.venue, line.gateway.link
    order = place(actor, account, type="limit", limit_price="95.00")
    eventually(lambda: status_of(order) == "new")
    venue.duplicate_next_report()
    reference_price_set(actor=actor, instrument=instrument, price="94.50")
    eventually(lambda: status_of(order) == "filled")
    (trade,) = venue_trades(venue, order)
    exec_id = trade["exec_id"]
    copies = lambda: link.answers(lambda m: m.get(17) == exec_id)  # noqa: E731 - every 8 the engine delivered
    eventually(lambda: len(copies()) == 2)
    assert sorted(m.get(43) or "N" for m in copies()) == ["N", "Y"]  # the original, then the PossDup copy
    eventually(journal_quiet)
    assert InboundReport.objects.filter(exec_id=exec_id).count() == 1
    assert fills_by_exec_id(order) == {exec_id: 1}
    assert ExecutionReportRecord.objects.filter(broker="fix44", exec_id=exec_id).count() == 1
    order.refresh_from_db()
    assert order.filled_quantity == Decimal(10)


def test_a_restarted_venue_keeps_its_working_order_and_no_fill_is_doubled(line, actor, account, instrument):
    filled = place(actor, account)
    resting = place(actor, account, type="limit", limit_price="95.00", quantity="4")
    eventually(lambda: status_of(filled) == "filled" and status_of(resting) == "new")
    line.venue.stop()
    earlier = line.venue.book.trades()
    eventually(lambda: not line.gateway.link.logged_on.is_set())
    line.venue = new_venue(line.port, line.venue_dir)
    assert line.venue.book.find(str(resting.pk)).status == NEW  # kept in its data dir
    eventually(lambda: line.gateway.link.logons >= 2 and line.gateway.link.logged_on.is_set())
    reference_price_set(actor=actor, instrument=instrument, price="94.50")
    eventually(lambda: status_of(resting) == "filled")
    eventually(journal_quiet)
    for order in (filled, resting):
        trades = venue_trades(line.venue, order, earlier)
        assert len(trades) == 1
        assert fills_by_exec_id(order) == {trades[0]["exec_id"]: 1}
        assert order.filled_quantity == order.quantity
    assert Fill.objects.count() == len(earlier) + len(line.venue.book.trades()) == 2
    assert line.venue.book.find(str(resting.pk)).cumulative_quantity == 4
    assert dead_letters() == []


def test_reports_the_back_office_must_not_book_are_dead_lettered(line, actor, account):
    venue, link = line.venue, line.gateway.link
    before = balance(account)
    unknown = [(37, "O-nobody"), (11, "999999"), (17, "X-1"), (150, "0"), (39, "0"), (55, "ACME"), (54, "1")]
    unknown += [(38, "5"), (40, "1"), (14, "0"), (151, "5"), (6, "0")]
    venue.send_report(unknown)
    eventually(lambda: ExecutionReportRecord.objects.filter(broker="fix44", exec_id="X-1").exists())
    record = ExecutionReportRecord.objects.get(broker="fix44", exec_id="X-1")
    assert (record.status, record.order_id) == ("dead", 999999)
    assert "999999" in record.error
    assert balance(account) == before and not Fill.objects.exists()

    order = place(actor, account, quantity="3")
    eventually(lambda: status_of(order) == "filled")
    (trade,) = venue_trades(venue, order)
    fills = list(Fill.objects.filter(order=order).values_list("exec_id", "quantity"))
    venue_order = venue.book.find(str(order.pk))
    bust = [(37, venue_order.order_id), (11, str(order.pk)), (17, "X-2"), (19, trade["exec_id"]), (150, "H")]
    bust += [(39, "0"), (55, "ACME"), (54, "1"), (38, "3"), (32, "3"), (31, trade["price"]), (14, "0")]
    bust += [(151, "3"), (6, "0"), (58, "trade busted by the venue")]
    after_fill = balance(account)
    venue.duplicate_next_report()  # the bust comes twice, the copy with PossDup: one dead letter
    venue.send_report(bust)
    eventually(lambda: len(link.answers(lambda m: m.get(17) == "X-2")) == 2)
    eventually(journal_quiet)
    assert len(dead_letters()) == 2
    busted = ExecutionReportRecord.objects.get(broker="fix44", status="dead", order_id=order.pk)
    assert "150=H (trade cancel (bust))" in str(busted.payload["text"])
    assert "X-2" in str(busted.payload["text"]) and busted.error
    assert InboundReport.objects.filter(order_id=order.pk).exclude(problem="").count() == 1
    assert list(Fill.objects.filter(order=order).values_list("exec_id", "quantity")) == fills
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", Decimal(3))
    assert balance(account) == after_fill
    assert InboundReport.objects.get(order_id=order.pk, problem__contains="150=H").acknowledged_at is not None


def test_an_unsolicited_cancel_by_the_venue_cancels_the_order_and_releases_its_hold(line, actor, account):
    order = place(actor, account, type="limit", limit_price="95.00")
    eventually(lambda: status_of(order) == "new")
    reserved = balance(account, Purpose.CASH_RESERVED)
    assert reserved >= Decimal("950.00")
    assert balance(account) == DEPOSIT - reserved
    assert line.venue.cancel_unsolicited(str(order.pk), "market closed for the day")
    eventually(lambda: status_of(order) == "canceled")
    assert balance(account, Purpose.CASH_RESERVED) == 0
    assert balance(account) == DEPOSIT
    event = OrderEvent.objects.get(order=order, kind=EventKind.CANCELED)
    assert event.initiator == "venue" and "market closed for the day" in event.data["text"]
    assert not Fill.objects.filter(order=order).exists()


def test_the_venues_rejections_of_an_order_and_of_a_replace(line, actor, account):
    venue = line.venue
    venue.reject_next("new", "no credit line for this account")
    refused = place(actor, account)
    eventually(lambda: status_of(refused) == "rejected")
    assert "no credit line for this account" in refused.reject_detail
    event = OrderEvent.objects.get(order=refused, kind=EventKind.BROKER_REJECTED)
    assert "no credit line for this account" in event.data["text"]
    assert balance(account, Purpose.CASH_RESERVED) == 0 and balance(account) == DEPOSIT

    order = place(actor, account, type="limit", limit_price="90.00", quantity="5")
    eventually(lambda: status_of(order) == "new")
    reserved = balance(account, Purpose.CASH_RESERVED)
    venue.reject_next("replace", "replace not allowed now")
    order_replace(actor=actor, order_id=order.pk, quantity="7", limit_price="91.00")
    eventually(lambda: OrderEvent.objects.filter(order=order, kind=EventKind.REPLACE_REJECTED).exists())
    eventually(lambda: status_of(order) == "new")
    assert (order.quantity, order.limit_price, order.pending_replace) == (Decimal(5), Decimal("90.00"), None)
    event = OrderEvent.objects.get(order=order, kind=EventKind.REPLACE_REJECTED)
    assert "replace not allowed now" in event.data["text"]
    assert balance(account, Purpose.CASH_RESERVED) == reserved  # the hold is back to the old terms
    working = venue.book.find(str(order.pk))
    assert (working.quantity, working.limit_price) == (Decimal(5), Decimal("90.00"))


def test_a_fill_that_arrives_before_the_acknowledgement_is_booked_once(line, actor, account):
    venue = line.venue
    venue.hold_reports()
    order = place(actor, account)
    eventually(lambda: venue.held_for(str(order.pk)) == ["0", "F"])  # NEW, then the fill (the venue's order)
    venue.release_reports(reverse=True)
    eventually(lambda: status_of(order) == "filled")
    eventually(journal_quiet)
    kinds = [r.raw.split("\x01150=")[1][0] for r in InboundReport.objects.filter(order_id=order.pk).order_by("id")]
    assert kinds == ["F", "0"]  # the fill was journaled (and booked) before the NEW
    (trade,) = venue_trades(venue, order)
    assert fills_by_exec_id(order) == {trade["exec_id"]: 1}
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", Decimal(10))
    assert dead_letters() == []
    assert ExecutionReportRecord.objects.filter(broker="fix44", order_id=order.pk, status="applied").count() == 2
