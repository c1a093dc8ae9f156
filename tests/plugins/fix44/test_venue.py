"""The local FIX 4.4 venue over a real QuickFIX session (no database)."""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from plugins.fix44.venue import Venue
from plugins.fix44.venue_book import NewOrder, VenueBook
from plugins.paper.config import PaperSettings
from plugins.paper.simulator import Market
from tests.plugins.fix44.venue_client import VenueClient

MICROS = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{6}$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def aapl(price: str | None = "100.00") -> Market:
    return Market("AAPL", Decimal("0.01"), Decimal("1"), True, Decimal(price) if price else None)


@pytest.fixture
def markets() -> dict[str, Market]:
    return {"AAPL": aapl()}


Start = Callable[..., tuple[Venue, VenueClient]]


@pytest.fixture
def start(tmp_path: Path, markets: dict[str, Market]) -> Iterator[Start]:
    """Start a venue (fresh data dir unless given) and a logged-on client; stopped at teardown."""
    running: list[Venue | VenueClient] = []
    port = free_port()

    def run(
        settings: PaperSettings | None = None, sweep_seconds: float | None = None, client: VenueClient | None = None
    ) -> tuple[Venue, VenueClient]:
        venue = Venue(
            port=port, data_dir=tmp_path / "venue", markets=markets.get, settings=settings, sweep_seconds=sweep_seconds
        )
        running.append(venue.start())
        if client is None:
            client = VenueClient(port, tmp_path / "client")
            running.append(client.start())
        return venue, client

    yield run
    for thing in reversed(running):
        thing.stop()


def test_market_order_fills_at_the_slipped_price(start: Start) -> None:
    _, client = start(PaperSettings(slippage_bps=Decimal(10)))
    client.new_order("1", "10")
    new = client.wait_for(t11="1", t150="0")[0]
    assert (new[39], new[14], new[151], new[38], new[40], new[59]) == ("0", "0", "10", "10", "1", "0")
    trade = client.wait_for(t11="1", t150="F")[0]
    assert (trade[32], trade[31], trade[14], trade[151], trade[6], trade[39]) == (
        "10",
        "100.1",
        "10",
        "0",
        "100.1",
        "2",
    )
    assert (trade[12], trade[13], trade[1], trade[55], trade[54]) == ("1", "3", "ACC-1", "AAPL", "1")
    assert MICROS.match(trade[60]) and MICROS.match(trade[52])
    assert trade[37] == new[37] and trade[17] != new[17]


def test_limit_rests_then_fills_on_the_background_sweep(start: Start, markets: dict[str, Market]) -> None:
    _, client = start(sweep_seconds=0.05)
    client.new_order("1", "10", ord_type="2", price="99")
    new = client.wait_for(t11="1", t150="0")[0]
    assert new[44] == "99" and new[151] == "10"
    assert not client.matching(t11="1", t150="F")
    markets["AAPL"] = aapl("98.50")
    trade = client.wait_for(t11="1", t150="F")[0]
    assert (trade[31], trade[39], trade[14], trade[151]) == ("98.5", "2", "10", "0")


def test_partial_fills_one_slice_per_evaluation(start: Start) -> None:
    venue, client = start(PaperSettings(partial_fill_quantity=Decimal(4)))
    client.new_order("1", "10")
    first = client.wait_for(t11="1", t150="F")[0]
    assert (first[32], first[39], first[14], first[151], first[12]) == ("4", "1", "4", "6", "1")
    venue.sweep()
    venue.sweep()
    trades = client.wait_for(3, t11="1", t150="F")
    assert [(t[32], t[14], t[151], t[39]) for t in trades[1:]] == [("4", "8", "2", "1"), ("2", "10", "0", "2")]
    assert [t[12] for t in trades] == ["1", "0", "0"] and trades[-1][6] == "100"


def test_ioc_remainder_is_canceled(start: Start) -> None:
    _, client = start(PaperSettings(partial_fill_quantity=Decimal(4)))
    client.new_order("1", "10", tif="3")
    canceled = client.wait_for(t11="1", t150="4")[0]
    assert (canceled[39], canceled[14], canceled[151], canceled[58]) == ("4", "4", "0", "IOC: remainder canceled")
    assert len(client.matching(t11="1", t150="F")) == 1


def test_fok_is_canceled_when_it_cannot_fill_entirely(start: Start) -> None:
    _, client = start(PaperSettings(partial_fill_quantity=Decimal(4)))
    client.new_order("1", "10", tif="4")
    canceled = client.wait_for(t11="1", t150="4")[0]
    assert (canceled[14], canceled[151], canceled[58]) == ("0", "0", "FOK: could not fill entirely")
    assert not client.matching(t11="1", t150="F")


def test_stop_triggers_when_the_price_reaches_it(start: Start, markets: dict[str, Market]) -> None:
    venue, client = start()
    client.new_order("1", "5", ord_type="3", stop="105")
    assert client.wait_for(t11="1", t150="0")[0][99] == "105"
    assert venue.sweep() == 0
    markets["AAPL"] = aapl("106")
    assert venue.sweep() == 1
    trade = client.wait_for(t11="1", t150="F")[0]
    assert (trade[31], trade[39]) == ("106", "2")


def test_cancel_and_cancel_reject(start: Start) -> None:
    _, client = start()
    client.new_order("1", "10", ord_type="2", price="99")
    client.wait_for(t11="1", t150="0")
    client.cancel("1-1", "1")
    canceled = client.wait_for(t11="1-1", t150="4")[0]
    assert (canceled[41], canceled[39], canceled[151], canceled[14]) == ("1", "4", "0", "0")
    client.cancel("9-1", "9")
    reject = client.wait_for(t35="9", t11="9-1")[0]
    assert (reject[434], reject[37], reject[41], reject[39], reject[102], reject[58]) == (
        "1",
        "NONE",
        "9",
        "8",
        "1",
        "unknown order",
    )
    client.cancel("1-2", "1-1")  # already canceled: too late
    late = client.wait_for(t35="9", t11="1-2")[0]
    assert (late[434], late[102], late[39], late[58]) == ("1", "0", "4", "the order is canceled")


def test_replace_and_replace_reject(start: Start) -> None:
    _, client = start()
    client.new_order("1", "10", ord_type="2", price="99")
    order_id = client.wait_for(t11="1", t150="0")[0][37]
    client.replace("1-1", "1", "20", price="98")
    replaced = client.wait_for(t11="1-1", t150="5")[0]
    assert (replaced[41], replaced[37], replaced[38], replaced[44], replaced[151], replaced[39]) == (
        "1",
        order_id,
        "20",
        "98",
        "20",
        "0",
    )
    client.replace("1-2", "1-1", "20", price="98.001")
    reject = client.wait_for(t35="9", t11="1-2")[0]
    assert (reject[434], reject[41], reject[39], reject[37]) == ("2", "1-1", "0", order_id)
    assert "tick size" in reject[58]
    client.replace("7-1", "7", "5", price="98")
    assert client.wait_for(t35="9", t11="7-1")[0][102] == "1"
    client.cancel("1-3", "1-1")  # the confirmed replace's ClOrdID names the order now
    assert client.wait_for(t11="1-3", t150="4")[0][41] == "1-1"


def test_order_status_known_and_unknown(start: Start) -> None:
    _, client = start()
    client.new_order("1", "10", ord_type="2", price="99")
    order_id = client.wait_for(t11="1", t150="0")[0][37]
    client.status("1")
    known = client.wait_for(t11="1", t150="I")[0]
    assert (known[37], known[39], known[38], known[151], known[44]) == (order_id, "0", "10", "10", "99")
    client.status("42")
    unknown = client.wait_for(t11="42", t150="I")[0]
    assert (unknown[39], unknown[103], unknown[58], unknown[37]) == ("8", "5", "unknown order", "NONE")


def test_mass_status_lists_working_orders(start: Start) -> None:
    _, client = start()
    client.mass_status("M0")
    empty = client.wait_for(t584="M0")
    assert [(m[150], m[39], m[911], m[912], m[37]) for m in empty] == [("I", "8", "0", "Y", "NONE")]
    client.new_order("1", "10", ord_type="2", price="99")
    client.new_order("2", "5", ord_type="2", price="98", side="1")
    client.new_order("3", "5")  # fills at once: not working
    client.wait_for(t11="3", t150="F")
    client.mass_status("M1")
    answers = client.wait_for(2, t584="M1")
    assert [(m[11], m[150], m[911], m[912]) for m in answers] == [("1", "I", "2", "N"), ("2", "I", "2", "Y")]


def test_positions(start: Start) -> None:
    _, client = start()
    client.new_order("1", "10")
    client.new_order("2", "3", side="2")
    client.new_order("3", "4", account="ACC-2")
    for cl in ("1", "2", "3"):
        client.wait_for(t11=cl, t150="F")
    client.positions("P1")
    ack = client.wait_for(t35="AO", t710="P1")[0]
    assert (ack[728], ack[729], ack[727]) == ("0", "0", "1")
    report = client.wait_for(t35="AP", t710="P1")[0]
    assert (report[1], report[55], report[702], report[703], report[704], report[705]) == (
        "ACC-1",
        "AAPL",
        "1",
        "TQ",
        "7",
        "0",
    )
    client.positions("P2", account="NOBODY")
    assert client.wait_for(t35="AO", t710="P2")[0][728] == "2"


def test_restart_keeps_working_orders_and_never_repeats_exec_ids(start: Start, markets: dict[str, Market]) -> None:
    venue, client = start()
    client.new_order("1", "10", ord_type="2", price="99")
    client.new_order("2", "1")
    client.wait_for(t11="2", t150="F")
    before = {m[17] for m in client.app_messages("8")}
    venue.stop()
    client.wait_until(lambda: not client.is_logged_on(), what="the client to see the venue go")
    venue, _ = start(client=client)
    client.wait_logged_on()
    assert venue.book.find("1") is not None and venue.book.find("1").status == "0"  # type: ignore[union-attr]
    markets["AAPL"] = aapl("98")
    venue.sweep()
    trade = client.wait_for(t11="1", t150="F")[0]
    client.new_order("3", "1")
    client.wait_for(t11="3", t150="F")
    after = [m[17] for m in client.app_messages("8")]
    assert trade[17] not in before and len(after) == len(set(after))


def test_report_produced_while_disconnected_arrives_after_reconnect(start: Start) -> None:
    venue, client = start()
    client.new_order("1", "10", ord_type="2", price="99")
    client.wait_for(t11="1", t150="0")
    venue.drop_connection()
    assert not venue.is_logged_on()
    assert venue.cancel_unsolicited("1")
    canceled = client.wait_for(t11="1", t150="4", timeout=10)[0]
    assert canceled[43] == "Y" and "41" not in {str(t) for t, _ in canceled.pairs}
    assert "logout" in client.events and client.is_logged_on()


def test_skipped_sequence_numbers_are_gap_filled(start: Start) -> None:
    venue, client = start()
    venue.skip_sequence_numbers(5)
    client.new_order("1", "10")
    client.wait_for(t11="1", t150="F")
    assert client.wait_for(t11="1", t150="0")
    client.wait_until(lambda: bool(client.admin_messages("4")), what="a gap fill")
    assert client.admin_messages("4")[0][123] == "Y" and client.is_logged_on()


def test_duplicate_report_carries_possdup(start: Start) -> None:
    venue, client = start()
    venue.duplicate_next_report()
    client.new_order("1", "10")
    client.wait_for(t11="1", t150="F")
    first, second = client.wait_for(2, t11="1", t150="0")
    assert first[17] == second[17] and first.get(43) is None
    assert second[43] == "Y" and second[122] == first[52]
    assert len(client.matching(t11="1", t150="F")) == 1


def test_scripted_rejects(start: Start) -> None:
    venue, client = start()
    venue.reject_next("new", "no new orders today")
    client.new_order("1", "10")
    rejected = client.wait_for(t11="1", t150="8")[0]
    assert (rejected[39], rejected[58], rejected[103], rejected[151]) == ("8", "no new orders today", "0", "0")
    client.new_order("2", "10", ord_type="2", price="99")
    client.wait_for(t11="2", t150="0")
    venue.reject_next("cancel", "cannot cancel now")
    client.cancel("2-1", "2")
    assert client.wait_for(t35="9", t11="2-1")[0][58] == "cannot cancel now"
    venue.reject_next("replace")
    client.replace("2-2", "2", "11", price="99")
    assert client.wait_for(t35="9", t11="2-2")[0][434] == "2"
    with pytest.raises(ValueError):
        venue.reject_next("status")


def test_held_reports_are_released_out_of_order(start: Start) -> None:
    venue, client = start()
    venue.hold_reports()
    client.new_order("1", "10")
    client.wait_until(lambda: venue.held_count() == 2, what="two held reports")
    client.status("1")  # answered while holding: also held
    client.wait_until(lambda: venue.held_count() == 3, what="three held reports")
    assert not client.matching(t11="1")
    venue.release_reports(reverse=True)
    reports = client.wait_for(3, t11="1")
    assert [m[150] for m in reports] == ["I", "F", "0"]


def test_send_raw_writes_on_the_live_connection(start: Start) -> None:
    venue, client = start()
    body = f"35=0\x0134=1\x0149=VENUE\x0152={datetime.now(UTC):%Y%m%d-%H:%M:%S.%f}\x0156=BACKOFFICE\x01"
    head = f"8=FIX.4.4\x019={len(body)}\x01{body}"
    raw = f"{head}10={sum(head.encode()) % 256:03d}\x01".encode()
    logouts = client.events.count("logout")
    venue.send_raw(raw)  # MsgSeqNum 1 is too low: the client's engine logs out
    client.wait_until(lambda: client.events.count("logout") > logouts, what="the client to log out")
    # logged out (the engine may report it twice, the second time possibly after a first logon
    # attempt under load), then back on: wait for that end state rather than for the first logon
    client.wait_until(
        lambda: client.events[-1] == "logon" and client.is_logged_on(), timeout=15, what="the client back on"
    )
    assert client.events[-1] == "logon" and client.is_logged_on()


def test_book_persists_state_and_exec_counter(tmp_path: Path, markets: dict[str, Market]) -> None:
    path = tmp_path / "venue.json"
    book = VenueBook(path=path)
    order = NewOrder("1", "ACC-1", "AAPL", "buy", "limit", Decimal(10), "gtc", limit_price=Decimal(99))
    first = book.new_order(order, markets["AAPL"])
    again = VenueBook(path=path)
    assert again.working()[0].cl_ord_id == "1"
    second = again.new_order(dataclasses.replace(order, cl_ord_id="2"), markets["AAPL"])
    assert {r.exec_id for r in first}.isdisjoint(r.exec_id for r in second)
    assert again.new_order(order, markets["AAPL"])[0].exec_type == "I"  # a repeated ClOrdID opens nothing


def test_book_expires_day_orders_at_the_close(markets: dict[str, Market]) -> None:
    now = [datetime(2024, 1, 2, 20, 0, tzinfo=UTC)]
    book = VenueBook(PaperSettings(day_close_utc=time(21, 0)), clock=lambda: now[0])
    order = NewOrder("1", "ACC-1", "AAPL", "buy", "limit", Decimal(10), "day", limit_price=Decimal(99))
    book.new_order(order, markets["AAPL"])
    assert book.sweep(markets.get) == []
    now[0] += timedelta(hours=2)
    expired = book.sweep(markets.get)
    assert [(r.exec_type, r.ord_status, r.leaves_quantity) for r in expired] == [("C", "C", 0)]
