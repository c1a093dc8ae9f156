"""The FIX 4.4 mapping, from raw FIX strings: no session, no engine (except the data dictionary,
to check that what we send is what QuickFIX accepts), no database."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.brokers.intake import problems
from apps.brokers.interface import BrokerOrder, BrokerPosition, ExecType, OrderTicket, ReplaceRequest
from plugins.fix44 import mapping
from plugins.fix44.mapping import (
    SOH,
    FixMessage,
    MalformedMessage,
    UnsupportedMessage,
    broker_order,
    cancel_reject,
    cancel_replace_request,
    cancel_request,
    execution_report,
    fix_decimal,
    fix_time,
    new_order_single,
    order_id_of,
    order_mass_status_request,
    order_status_request,
    parse,
    parse_fix_time,
    positions,
    request_for_positions,
    venue_order,
)

NOW = datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)
STAMP = "20240305-14:30:15.123456"
HEADER = ((49, "BROKER"), (56, "BACKOFFICE"), (34, "7"), (52, STAMP))

Pairs = list[tuple[int, str]] | tuple[tuple[int, str], ...]


def frame(msg_type: str, body: Pairs, *, header: Pairs = HEADER, checksum: str | None = None, length: int = 0) -> str:
    """A complete message: 8, 9 (the body's length, plus ``length``), 35, header, body, 10
    (correct, unless ``checksum`` is given)."""
    rest = "".join(f"{tag}={value}{SOH}" for tag, value in ((35, msg_type), *header, *body))
    start = f"8=FIX.4.4{SOH}9={len(rest.encode()) + length}{SOH}{rest}"
    total = sum(start.encode()) % 256
    return f"{start}10={checksum if checksum is not None else f'{total:03d}'}{SOH}"


def message(msg_type: str, body: Pairs) -> FixMessage:
    return parse(frame(msg_type, body))


def er(*, drop: tuple[int, ...] = (), extra: Pairs = (), **values: str) -> FixMessage:
    """An ExecutionReport (8): a NEW limit buy of 10 at 101.5 for order 42, changed by ``values``
    (``t<tag>=value``), without the tags in ``drop``, with ``extra`` pairs appended."""
    fields = {37: "V-1", 11: "42", 17: "E-1", 150: "0", 39: "0", 1: "ACC-1", 55: "ACME", 54: "1"}
    fields |= {38: "10", 40: "2", 44: "101.5", 59: "0", 151: "10", 14: "0", 6: "0", 60: STAMP}
    for key, value in values.items():
        fields[int(key.removeprefix("t"))] = value
    body = [(tag, value) for tag, value in fields.items() if tag not in drop]
    return message("8", [*body, *extra])


def fill(**values: str) -> FixMessage:
    base = {"t150": "F", "t39": "1", "t32": "4", "t31": "100.25", "t14": "4", "t151": "6", "t17": "E-2"}
    return er(**(base | values))  # type: ignore[arg-type]


def ticket(**changes: object) -> OrderTicket:
    values: dict[str, object] = {
        "order_id": 42,
        "client_order_id": "c-42",
        "account_number": "ACC-1",
        "symbol": "ACME",
        "side": "buy",
        "order_type": "limit",
        "quantity": Decimal("10"),
        "time_in_force": "day",
        "limit_price": Decimal("101.50"),
        "request_id": "42",
    }
    return OrderTicket(**(values | changes))  # type: ignore[arg-type]


# -- parsing and framing ---------------------------------------------------------------------


def test_parse_reads_every_field_in_wire_order() -> None:
    msg = parse(frame("0", [(112, "ping")]))
    assert msg.msg_type == "0"
    assert [tag for tag, _ in msg.pairs] == [8, 9, 35, 49, 56, 34, 52, 112, 10]
    assert msg.get(112) == "ping"
    assert msg.get(58) is None
    assert msg.get(58, "x") == "x"
    assert msg.require(49) == "BROKER"


def test_parse_accepts_pipes_and_bytes() -> None:
    raw = frame("0", [(112, "ping")])
    assert parse(raw.replace(SOH, "|")) == parse(raw) == parse(raw.encode())


def test_parse_keeps_separators_inside_a_data_field() -> None:
    raw = frame("B", [(148, "news"), (95, "5"), (96, f"a{SOH}b=c")])
    assert parse(raw).get(96) == f"a{SOH}b=c"


def test_values_may_hold_equals_signs_and_utf8() -> None:
    msg = message("8", [(58, "a=b €")])
    assert msg.get(58) == "a=b €"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (frame("0", [(112, "x")], checksum="001"), "CheckSum 10 says 001"),
        (frame("0", [(112, "x")], checksum="1"), "three digits"),
        (frame("0", [(112, "x")], length=1), "BodyLength 9 says"),
        (frame("0", [(112, "x")], length=-1), "BodyLength 9 says"),
        (frame("0", [(112, "x")]).replace("FIX.4.4", "FIX.4.2"), "BeginString 8"),
        (frame("0", [(112, "x")]).split(SOH, 1)[1], "BeginString 8"),
        (frame("0", [(112, "x")])[:-1], "not terminated"),
        (frame("0", [(112, "")]), "tag 112 has an empty value"),
        (frame("0", [(112, "x")]).replace("112=", "1a2="), "no valid tag"),
        (frame("0", [(112, "x")]).replace(f"{SOH}35=0", f"{SOH}34=0"), "MsgType 35 must come third"),
    ],
)
def test_malformed_frames_are_refused_saying_why(raw: str, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        parse(raw)


def test_checksum_must_be_last() -> None:
    raw = frame("0", [(112, "x")])
    with pytest.raises(MalformedMessage, match="CheckSum 10 must come last"):
        parse(raw + f"58=late{SOH}")


def test_without_validation_a_bad_frame_is_read_anyway() -> None:
    msg = parse(frame("0", [(112, "x")], checksum="999", length=3), validate=False)
    assert msg.get(112) == "x"


def test_require_names_the_missing_or_empty_tag() -> None:
    with pytest.raises(MalformedMessage, match="required tag 58 is missing"):
        message("0", [(112, "x")]).require(58)
    with pytest.raises(MalformedMessage, match="required tag 112 is empty"):
        parse(frame("0", [(112, "")]), validate=False).require(112)


# -- repeating groups --------------------------------------------------------------------------


def test_group_members_start_at_the_delimiter() -> None:
    msg = message("8", [(136, "2"), (137, "1.5"), (139, "4"), (137, "2"), (138, "USD"), (58, "after")])
    assert msg.group(136, 137) == [{137: "1.5", 139: "4"}, {137: "2", 138: "USD", 58: "after"}]
    assert msg.group(453, 448) == []


@pytest.mark.parametrize(
    "body",
    [
        [(136, "2"), (137, "1.5")],  # fewer members than counted
        [(136, "1"), (137, "1.5"), (137, "2")],  # more
        [(137, "1.5")],  # a delimiter without its count
        [(136, "1"), (139, "4"), (137, "1.5")],  # a member that does not start with the delimiter
        [(136, "0"), (137, "1.5")],
    ],
)
def test_group_count_mismatch_is_malformed(body: Pairs) -> None:
    with pytest.raises(MalformedMessage, match="137"):
        message("8", body).group(136, 137)


def test_group_count_must_be_a_number() -> None:
    with pytest.raises(MalformedMessage, match="group count tag 136"):
        message("8", [(136, "two"), (137, "1")]).group(136, 137)


# -- values ----------------------------------------------------------------------------------


def test_fix_time_is_utc_with_microseconds() -> None:
    assert fix_time(NOW) == STAMP
    assert fix_time(NOW.astimezone(timezone(timedelta(hours=-5)))) == STAMP
    assert fix_time(datetime(2024, 1, 2, tzinfo=UTC)) == "20240102-00:00:00.000000"
    with pytest.raises(ValueError, match="timezone-aware"):
        fix_time(datetime(2024, 1, 2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240305-14:30:15", datetime(2024, 3, 5, 14, 30, 15, tzinfo=UTC)),
        ("20240305-14:30:15.123", datetime(2024, 3, 5, 14, 30, 15, 123000, tzinfo=UTC)),
        ("20240305-14:30:15.123456", datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)),
        ("20240305-14:30:15.123456789", datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)),
    ],
)
def test_parse_fix_time_reads_0_3_6_or_9_digits(text: str, expected: datetime) -> None:
    parsed = parse_fix_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["20240305-14:30:15.12", "20240305-14:30:15.1234", "20240305 14:30:15", "20241305-14:30:15", "2024-03-05", ""],
)
def test_parse_fix_time_refuses_anything_else(text: str) -> None:
    with pytest.raises(MalformedMessage, match="UTCTimestamp"):
        parse_fix_time(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("10", "10"),
        ("10.000", "10"),
        ("1E+1", "10"),
        ("0.01", "0.01"),
        ("101.50", "101.5"),
        ("1E-8", "0.00000001"),
        ("-2.50", "-2.5"),
        ("0.000", "0"),
        ("-0", "0"),
    ],
)
def test_fix_decimal_is_plain(value: str, text: str) -> None:
    assert fix_decimal(Decimal(value)) == text


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), 1.5])
def test_fix_decimal_refuses_non_finite_and_floats(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite Decimal"):
        fix_decimal(value)


def test_order_id_of_our_request_ids() -> None:
    assert order_id_of("123") == 123
    assert order_id_of("123-456") == 123
    for text in ("", "abc", "0", "012", "12-", "-12", "12-3-4", "12a", "PAPER-1"):
        with pytest.raises(MalformedMessage, match="not one of ours"):
            order_id_of(text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=10, min_value=-(10**12), max_value=10**12))
def test_fix_decimal_round_trips(value: Decimal) -> None:
    text = fix_decimal(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value
    assert mapping.wire_decimal(text, 44) == value


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
        allow_imaginary=False,
    )
)
def test_fix_time_round_trips(moment: datetime) -> None:
    # compared in UTC: Python says an ambiguous local time (a DST fold) equals nothing in another zone
    assert parse_fix_time(fix_time(moment)) == moment.astimezone(UTC)


# -- execution reports -----------------------------------------------------------------------


def booked(msg: FixMessage):  # type: ignore[no-untyped-def]
    report = execution_report(msg)
    assert report is not None
    assert problems(report) == []  # the intake books it
    return report


def test_new() -> None:
    report = booked(er())
    assert report.exec_type == ExecType.NEW
    assert (report.exec_id, report.order_id, report.request_id, report.broker_order_id) == ("E-1", 42, "42", "V-1")
    assert (report.cumulative_quantity, report.leaves_quantity) == (Decimal(0), Decimal(10))
    assert (report.quantity, report.limit_price, report.stop_price) == (Decimal(10), Decimal("101.5"), None)
    assert (report.last_quantity, report.last_price, report.fee) == (Decimal(0), None, Decimal(0))
    assert report.broker_time == NOW
    assert isinstance(report.cumulative_quantity, Decimal)


def test_partial_fill() -> None:
    report = booked(fill())
    assert report.exec_type == ExecType.PARTIAL_FILL
    assert (report.last_quantity, report.last_price) == (Decimal(4), Decimal("100.25"))
    assert (report.cumulative_quantity, report.leaves_quantity) == (Decimal(4), Decimal(6))


@pytest.mark.parametrize(("status", "leaves"), [("2", "0"), ("1", "0"), ("2", "0.000")])
def test_full_fill_when_nothing_is_left(status: str, leaves: str) -> None:
    report = booked(fill(t39=status, t151=leaves, t14="10", t32="6"))
    assert report.exec_type == ExecType.FILL
    assert report.leaves_quantity == 0


def test_fill_when_the_venue_says_filled() -> None:
    assert booked(fill(t39="2")).exec_type == ExecType.FILL


@pytest.mark.parametrize(
    ("commission", "fee"),
    [
        ([], Decimal(0)),
        ([(12, "1.50")], Decimal("1.50")),  # no CommType: absolute
        ([(12, "1.50"), (13, "3")], Decimal("1.50")),
        ([(12, "0.01"), (13, "1")], Decimal("0.04")),  # per unit: 4 x 0.01
        ([(12, "0.1"), (13, "2")], Decimal("0.401")),  # percent: 0.1% of 4 x 100.25
        ([(12, "0.15"), (13, "2")], Decimal("0.6015")),
        ([(12, "0.0000013"), (13, "2")], Decimal("0.00000521")),  # rounded half up to 8 places
    ],
)
def test_fee_by_comm_type(commission: Pairs, fee: Decimal) -> None:
    assert booked(fill(extra=commission)).fee == fee


def test_misc_fees_add_to_the_commission() -> None:
    fees = [(12, "1"), (13, "3"), (136, "3"), (137, "0.25"), (139, "4"), (137, "0.02"), (891, "1"), (137, "0.5")]
    fees += [(891, "2")]
    # 1 + 0.25 + 0.02 per unit x 4 + 0.5% of 401
    assert booked(fill(extra=fees)).fee == Decimal("1") + Decimal("0.25") + Decimal("0.08") + Decimal("2.005")


def test_misc_fees_in_another_currency_are_not_added_up() -> None:
    fees = [(12, "1"), (479, "USD"), (136, "1"), (137, "0.25"), (138, "EUR")]
    with pytest.raises(UnsupportedMessage, match="currencies"):
        execution_report(fill(extra=fees))


def test_misc_fee_group_count_mismatch_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="repeating group 136 says 2"):
        execution_report(fill(extra=[(136, "2"), (137, "0.25")]))


def test_unknown_comm_type_is_not_guessed() -> None:
    with pytest.raises(UnsupportedMessage, match="CommType 13=6"):
        execution_report(fill(extra=[(12, "1"), (13, "6")]))


def test_no_fee_on_reports_that_are_not_fills() -> None:
    assert booked(er(extra=[(12, "1.5")])).fee == 0


def test_cancel_on_request_names_the_cancel() -> None:
    report = booked(er(t150="4", t39="4", t11="42-7", t41="42", t17="E-3", t14="4", t151="0", t58="canceled"))
    assert report.exec_type == ExecType.CANCELED
    assert (report.order_id, report.request_id) == (42, "42-7")
    assert (report.cumulative_quantity, report.leaves_quantity, report.text) == (Decimal(4), Decimal(0), "canceled")


def test_unsolicited_cancel_ends_the_order() -> None:
    # an IOC remainder canceled by the venue: no cancel request, the order's own ClOrdID
    report = booked(er(t150="4", t39="4", t17="E-4", t59="3", t14="4", t151="6", t58="IOC remainder"))
    assert report.exec_type == ExecType.CANCELED
    assert (report.order_id, report.request_id, report.text) == (42, "42", "IOC remainder")
    assert report.leaves_quantity == 0  # FIX and the interface: nothing is left of a canceled order


def test_replaced_carries_the_new_terms() -> None:
    msg = er(t150="5", t39="0", t11="42-9", t41="42", t38="15", t44="99.75", t151="15", t17="E-5")
    report = booked(msg)
    assert report.exec_type == ExecType.REPLACED
    assert (report.order_id, report.request_id) == (42, "42-9")
    assert (report.quantity, report.limit_price, report.leaves_quantity) == (Decimal(15), Decimal("99.75"), Decimal(15))


def test_replaced_stop_limit_carries_the_stop() -> None:
    report = booked(er(t150="5", t11="42-9", t40="4", t99="98", t44="97.5"))
    assert (report.limit_price, report.stop_price) == (Decimal("97.5"), Decimal(98))


def test_rejected_says_why() -> None:
    report = booked(er(t150="8", t39="8", t37="NONE", t103="1", t58="no such symbol", t151="0"))
    assert report.exec_type == ExecType.REJECTED
    assert report.broker_order_id == ""
    assert report.text == "unknown symbol (1): no such symbol"


def test_expired() -> None:
    report = booked(er(t150="C", t39="C", t151="0"))
    assert (report.exec_type, report.leaves_quantity) == (ExecType.EXPIRED, Decimal(0))


@pytest.mark.parametrize("exec_type", ["A", "6", "E", "I"])
def test_acknowledgements_and_status_answers_are_not_booked(exec_type: str) -> None:
    assert execution_report(er(t150=exec_type)) is None


@pytest.mark.parametrize(
    ("exec_type", "what"),
    [("H", "trade cancel"), ("G", "trade correct"), ("D", "restated"), ("3", "done for day"), ("Z", "unknown")],
)
def test_busts_corrections_restatements_and_unknown_types_need_a_person(exec_type: str, what: str) -> None:
    with pytest.raises(UnsupportedMessage, match=what):
        execution_report(er(t150=exec_type, t19="E-0"))


@pytest.mark.parametrize("side", ["5", "6", "3"])
def test_sides_other_than_buy_and_sell_need_a_person(side: str) -> None:
    with pytest.raises(UnsupportedMessage, match=f"Side 54={side}"):
        execution_report(fill(t54=side))


@pytest.mark.parametrize("tag", [17, 11, 150, 39, 14, 151])
def test_missing_required_tags_are_named(tag: int) -> None:
    with pytest.raises(MalformedMessage, match=f"required tag {tag} is missing"):
        execution_report(er(drop=(tag,)))


@pytest.mark.parametrize(
    ("values", "tag"),
    [({"t32": "1O"}, 32), ({"t31": "1e2"}, 31), ({"t14": "NaN"}, 14), ({"t151": "+1"}, 151), ({"t38": "ten"}, 38)],
)
def test_numbers_must_be_fix_floats(values: dict[str, str], tag: int) -> None:
    with pytest.raises(MalformedMessage, match=f"tag {tag} is not a number"):
        execution_report(fill(**values))


def test_a_trade_needs_its_quantity_and_price() -> None:
    with pytest.raises(MalformedMessage, match="required tag 32"):
        execution_report(er(t150="F", t31="100"))
    with pytest.raises(MalformedMessage, match="positive LastQty"):
        execution_report(fill(t32="0"))
    with pytest.raises(UnsupportedMessage, match="LastPx"):
        execution_report(fill(t31="0"))


def test_a_report_for_an_order_that_is_not_ours_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="not one of ours"):
        execution_report(er(t11="THEIRS-1"))


def test_a_bad_time_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="UTCTimestamp"):
        execution_report(er(t60="2024-03-05T14:30:15Z"))


def test_no_transact_time_means_no_broker_time() -> None:
    assert booked(er(drop=(60,))).broker_time is None


def test_execution_report_reads_only_execution_reports() -> None:
    with pytest.raises(MalformedMessage, match="expected MsgType 35=8"):
        execution_report(message("9", [(11, "42")]))


# -- cancel rejects ----------------------------------------------------------------------------


def reject(response_to: str, **values: str) -> FixMessage:
    fields = {37: "V-1", 11: "42-7", 41: "42", 39: "0", 434: response_to, 102: "0", 58: "order is filling", 60: STAMP}
    for key, value in values.items():
        fields[int(key.removeprefix("t"))] = value
    return message("9", [(tag, value) for tag, value in fields.items() if value])


def test_cancel_reject() -> None:
    report = cancel_reject(reject("1"))
    assert problems(report) == []
    assert report.exec_type == ExecType.CANCEL_REJECTED
    assert (report.exec_id, report.order_id, report.request_id, report.broker_order_id) == ("9-42-7", 42, "42-7", "V-1")
    assert report.text == "too late to cancel (0): order is filling"
    assert (report.cumulative_quantity, report.leaves_quantity, report.quantity) == (Decimal(0), Decimal(0), None)
    assert report.broker_time == NOW


def test_replace_reject() -> None:
    report = cancel_reject(reject("2", t11="42-8", t102="99", t58=""))
    assert problems(report) == []
    assert (report.exec_type, report.exec_id, report.text) == (ExecType.REPLACE_REJECTED, "9-42-8", "other (99)")


def test_cancel_reject_of_an_unknown_order() -> None:
    report = cancel_reject(reject("1", t37="NONE", t102="1", t58="", t60=""))
    assert (report.broker_order_id, report.text, report.broker_time) == ("", "unknown order (1)", None)
    assert problems(report) == []


def test_cancel_reject_order_id_from_the_original_when_the_request_is_not_ours() -> None:
    assert cancel_reject(reject("1", t11="X-1")).order_id == 42


def test_cancel_reject_needs_to_say_what_it_answers() -> None:
    with pytest.raises(MalformedMessage, match="CxlRejResponseTo 434"):
        cancel_reject(reject("3"))
    with pytest.raises(MalformedMessage, match="required tag 434 is missing"):
        cancel_reject(reject(""))


def test_a_resent_cancel_reject_keeps_its_exec_id() -> None:
    again = cancel_reject(message("9", [(43, "Y"), *reject("1").pairs[7:-1]]))
    assert again.exec_id == cancel_reject(reject("1")).exec_id


# -- order status answers -----------------------------------------------------------------------


def status(**values: str) -> FixMessage:
    return er(t150="I", t17="S-1", **values)


def test_status_of_a_working_order() -> None:
    order = venue_order(status(t39="1", t14="4", t151="6"))
    assert (order.order_id, order.request_id, order.broker_order_id, order.known) == (42, "42", "V-1", True)
    assert (order.status, order.quantity, order.cumulative_quantity, order.leaves_quantity) == (
        "partially_filled",
        Decimal(10),
        Decimal(4),
        Decimal(6),
    )
    assert (order.mass_status_req_id, order.last_of_batch) == ("", True)
    assert broker_order(order) == BrokerOrder(42, "V-1", Decimal(10), Decimal(4), Decimal(6), "partially_filled", "42")


def test_status_of_an_order_the_venue_does_not_know() -> None:
    order = venue_order(status(t39="8", t103="5", t37="NONE", t151="0"))
    assert (order.known, order.status, order.broker_order_id) == (False, "rejected", "")
    assert broker_order(order) is None


def test_a_rejected_order_is_known() -> None:
    assert venue_order(status(t39="8", t103="1", t151="0")).known


@pytest.mark.parametrize(
    ("ord_status", "working", "as_status"),
    [
        ("0", True, "new"),
        ("A", True, "new"),
        ("6", True, "new"),
        ("E", True, "new"),
        ("2", False, ""),
        ("4", False, ""),
        ("C", False, ""),
    ],
)
def test_broker_order_lists_what_the_venue_still_works(ord_status: str, working: bool, as_status: str) -> None:
    order = broker_order(venue_order(status(t39=ord_status)))
    assert (order is not None) == working
    if order is not None:
        assert order.status == as_status


def test_a_pending_cancel_after_a_fill_is_partially_filled() -> None:
    order = venue_order(status(t39="6", t14="3", t151="7"))
    assert order.status == "pending"
    assert broker_order(order).status == "partially_filled"  # type: ignore[union-attr]


def test_an_order_that_is_not_ours_is_not_listed() -> None:
    order = venue_order(status(t11="MANUAL-7"))
    assert order.order_id is None
    assert broker_order(order) is None


def test_mass_status_batches() -> None:
    first = venue_order(status(t584="M-1", t911="2"))
    last = venue_order(status(t584="M-1", t911="2", t912="Y"))
    assert (first.mass_status_req_id, first.last_of_batch, last.last_of_batch) == ("M-1", False, True)
    assert not venue_order(status(t912="N")).last_of_batch


def test_venue_order_reads_only_status_answers() -> None:
    with pytest.raises(MalformedMessage, match="150=I"):
        venue_order(er())
    with pytest.raises(MalformedMessage, match="OrdStatus 39"):
        venue_order(status(t39="Z"))


# -- positions ---------------------------------------------------------------------------------


def position_report(*entries: tuple[str, str | None, str | None], **values: str) -> FixMessage:
    fields = {721: "P-1", 728: "0", 715: "20240305", 1: "ACC-1", 581: "1", 55: "ACME"}
    for key, value in values.items():
        fields[int(key.removeprefix("t"))] = value
    group: list[tuple[int, str]] = [(702, str(len(entries)))] if entries else []
    for kind, long_qty, short_qty in entries:
        group += [(703, kind), *([(704, long_qty)] if long_qty else []), *([(705, short_qty)] if short_qty else [])]
    return message("AP", [*fields.items(), *group, (730, "0"), (731, "1"), (734, "0"), (753, "0")])


def test_positions_long_less_short() -> None:
    assert positions(position_report(("FIN", "120", "20.5"))) == [BrokerPosition("ACC-1", "ACME", Decimal("99.5"))]
    assert positions(position_report(("FIN", None, "5"))) == [BrokerPosition("ACC-1", "ACME", Decimal(-5))]


def test_positions_of_several_types_are_not_added_up_blindly() -> None:
    msg = position_report(("SOD", "100", None), ("FIN", "120", None))
    with pytest.raises(UnsupportedMessage, match="several position types"):
        positions(msg)
    assert positions(msg, pos_types=frozenset({"FIN"}))[0].quantity == Decimal(120)


def test_positions_of_one_type_are_summed() -> None:
    msg = position_report(("TQ", "100", None), ("TQ", "20", "5"))
    assert positions(msg)[0].quantity == Decimal(115)


def test_no_positions() -> None:
    assert positions(position_report()) == []
    assert positions(position_report(t728="2")) == []


def test_a_failed_position_request_is_not_a_flat_book() -> None:
    with pytest.raises(UnsupportedMessage, match="PosReqResult 728=3"):
        positions(position_report(t728="3"))


def test_position_group_mismatch_is_malformed() -> None:
    msg = message("AP", [(721, "P"), (728, "0"), (1, "A"), (55, "X"), (702, "2"), (703, "FIN"), (704, "1")])
    with pytest.raises(MalformedMessage, match="repeating group 702"):
        positions(msg)


# -- outbound --------------------------------------------------------------------------------


ORDER_TYPES = [
    ("market", None, None, "1", {}),
    ("limit", Decimal("101.50"), None, "2", {44: "101.5"}),
    ("stop", None, Decimal("99.00"), "3", {99: "99"}),
    ("stop_limit", Decimal("98.5"), Decimal("99"), "4", {44: "98.5", 99: "99"}),
]
TIME_IN_FORCE = [("day", "0"), ("gtc", "1"), ("ioc", "3"), ("fok", "4")]


@pytest.mark.parametrize(("order_type", "limit", "stop", "code", "prices"), ORDER_TYPES)
@pytest.mark.parametrize(("tif", "tif_code"), TIME_IN_FORCE)
def test_new_order_single(
    order_type: str,
    limit: Decimal | None,
    stop: Decimal | None,
    code: str,
    prices: dict[int, str],
    tif: str,
    tif_code: str,
) -> None:
    fields = new_order_single(
        ticket(order_type=order_type, limit_price=limit, stop_price=stop, time_in_force=tif, side="sell"), now=NOW
    )
    assert dict(fields) == {
        11: "42",
        1: "ACC-1",
        21: "1",
        55: "ACME",
        54: "2",
        60: STAMP,
        38: "10",
        40: code,
        59: tif_code,
        **prices,
    }
    assert len(fields) == len(dict(fields))


def test_new_order_single_sends_only_the_prices_its_type_uses() -> None:
    fields = dict(new_order_single(ticket(order_type="market", limit_price=Decimal(5)), now=NOW))
    assert 44 not in fields
    assert 99 not in fields


def test_new_order_single_falls_back_to_the_order_id() -> None:
    assert dict(new_order_single(ticket(request_id=""), now=NOW))[11] == "42"
    assert 1 not in dict(new_order_single(ticket(account_number=""), now=NOW))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"order_type": "limit", "limit_price": None}, "needs a limit price"),
        ({"order_type": "stop_limit", "stop_price": None}, "needs a stop price"),
        ({"order_type": "pegged"}, "order type 'pegged'"),
        ({"side": "short"}, "side 'short'"),
        ({"time_in_force": "gtd"}, "time in force 'gtd'"),
        ({"quantity": Decimal(0)}, "positive Decimal"),
        ({"symbol": ""}, "tag 55"),
        ({"symbol": f"A{SOH}B"}, "tag 55"),
        ({"limit_price": Decimal("NaN")}, "finite Decimal"),
    ],
)
def test_tickets_that_cannot_be_sent(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        new_order_single(ticket(**changes), now=NOW)


def test_cancel_request() -> None:
    fields = cancel_request(ticket(request_id="42-7", original_request_id="42-5", broker_order_id="V-1"), now=NOW)
    assert fields == (
        (41, "42-5"),
        (37, "V-1"),
        (11, "42-7"),
        (1, "ACC-1"),
        (55, "ACME"),
        (54, "1"),
        (60, STAMP),
        (38, "10"),
    )
    no_venue_id = dict(cancel_request(ticket(request_id="42-7"), now=NOW))
    assert (no_venue_id[41], 37 in no_venue_id) == ("42", False)


def test_a_cancel_needs_its_own_request_id() -> None:
    for request_id in ("", "42"):
        with pytest.raises(ValueError, match="its own request id"):
            cancel_request(ticket(request_id=request_id), now=NOW)


def test_cancel_replace_keeps_the_prices_it_does_not_change() -> None:
    base = ticket(request_id="42-9", original_request_id="42", broker_order_id="V-1", order_type="stop_limit")
    base = OrderTicket(**{**base.__dict__, "stop_price": Decimal("99.5"), "time_in_force": "gtc"})
    fields = dict(cancel_replace_request(base, ReplaceRequest(quantity=Decimal("15"), limit_price=None), now=NOW))
    assert fields == {
        37: "V-1",
        41: "42",
        11: "42-9",
        1: "ACC-1",
        21: "1",
        55: "ACME",
        54: "1",
        60: STAMP,
        38: "15",
        40: "4",
        44: "101.5",
        99: "99.5",
        59: "1",
    }
    changed = dict(cancel_replace_request(base, ReplaceRequest(Decimal(12), Decimal("100.25"), Decimal(100)), now=NOW))
    assert (changed[38], changed[44], changed[99]) == ("12", "100.25", "100")


def test_order_status_request() -> None:
    assert order_status_request(ticket(request_id="42-7", broker_order_id="V-1")) == (
        (37, "V-1"),
        (11, "42-7"),
        (55, "ACME"),
        (54, "1"),
    )
    assert order_status_request(ticket(request_id="")) == ((11, "42"), (55, "ACME"), (54, "1"))


def test_order_mass_status_request() -> None:
    assert order_mass_status_request("M-1") == ((584, "M-1"), (585, "7"))


def test_request_for_positions() -> None:
    fields = request_for_positions("P-1", account="ACC-1", business_date=date(2024, 3, 5), now=NOW)
    assert fields == ((710, "P-1"), (724, "0"), (1, "ACC-1"), (581, "1"), (715, "20240305"), (60, STAMP))


def test_outbound_bodies_parse_back() -> None:
    fields = new_order_single(ticket(order_type="stop_limit", stop_price=Decimal("99")), now=NOW)
    msg = message("D", fields)
    assert msg.pairs[7:-1] == fields
    assert parse_fix_time(msg.require(60)) == NOW
    assert Decimal(msg.require(44)) == Decimal("101.50")


# -- what the engine accepts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dictionary():  # type: ignore[no-untyped-def]
    fix = pytest.importorskip("quickfix")
    path = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    if not path.exists():
        pytest.skip(f"no FIX 4.4 data dictionary at {path}")
    return fix, fix.DataDictionary(str(path))


def engine_validates(dictionary, msg_type: str, fields: Pairs) -> bool:  # type: ignore[no-untyped-def]
    """True when the engine parses and validates the message as ``msg_type`` (it raises
    fix.FIXException when it refuses it)."""
    fix, dd = dictionary
    raw = frame(msg_type, fields)
    message = fix.Message(raw, dd, True)
    dd.validate(message)
    return bool(message.getHeader().getField(35) == msg_type)


def test_the_engine_refuses_what_it_should(dictionary) -> None:  # type: ignore[no-untyped-def]
    fix, _ = dictionary
    body = dict(new_order_single(ticket(), now=NOW))
    with pytest.raises(fix.FIXException, match="Required tag missing"):
        engine_validates(dictionary, "D", [(t, v) for t, v in body.items() if t != 60])
    with pytest.raises(fix.FIXException, match="out of range"):
        engine_validates(dictionary, "D", [*((t, v) for t, v in body.items() if t != 54), (54, "Z")])


@pytest.mark.parametrize(("order_type", "limit", "stop", "code", "prices"), ORDER_TYPES)
@pytest.mark.parametrize(("tif", "tif_code"), TIME_IN_FORCE)
def test_the_engine_accepts_our_new_orders(  # type: ignore[no-untyped-def]
    dictionary, order_type, limit, stop, code, prices, tif, tif_code
) -> None:
    order = ticket(order_type=order_type, limit_price=limit, stop_price=stop, time_in_force=tif)
    assert engine_validates(dictionary, "D", new_order_single(order, now=NOW))


def test_the_engine_accepts_our_other_requests(dictionary) -> None:  # type: ignore[no-untyped-def]
    working = ticket(request_id="42-7", original_request_id="42", broker_order_id="V-1")
    assert engine_validates(dictionary, "F", cancel_request(working, now=NOW))
    assert engine_validates(dictionary, "G", cancel_replace_request(working, ReplaceRequest(Decimal(5)), now=NOW))
    assert engine_validates(dictionary, "H", order_status_request(working))
    assert engine_validates(dictionary, "AF", order_mass_status_request("M-1"))
    assert engine_validates(
        dictionary, "AN", request_for_positions("P-1", account="ACC-1", business_date=date(2024, 3, 5), now=NOW)
    )


def test_the_engine_accepts_the_reports_we_read(dictionary) -> None:  # type: ignore[no-untyped-def]
    # our test messages are themselves valid FIX 4.4, so the mapping is tested on realistic input
    for msg in (fill(extra=[(12, "1"), (13, "3"), (136, "1"), (137, "0.25"), (139, "4")]), reject("1")):
        assert engine_validates(dictionary, msg.msg_type, msg.pairs[7:-1])
