"""Mapping between FIX 4.4 messages and the broker interface's values: pure functions, no engine,
no database.

``parse`` (in ``wire``, and here for callers) reads a raw message into a ``FixMessage``; the
outbound functions return a message BODY (``Fields``: no 8/9/35/49/56/34/52/10) in order, with
the fields FIX44.xml requires so the engine's validation accepts them; the inbound functions read
a ``FixMessage`` into the interface's values, every number a Decimal from the wire text (never a
float). A broken message raises ``MalformedMessage``; a well-formed one we must not book silently
raises ``UnsupportedMessage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from apps.brokers.interface import BrokerOrder, BrokerPosition, ExecType, ExecutionReport, OrderTicket, ReplaceRequest
from plugins.fix44.wire import (
    SOH,
    FixMessage,
    MalformedMessage,
    UnsupportedMessage,
    fix_decimal,
    fix_time,
    order_id_of,
    parse,
    parse_fix_time,
    wire_decimal,
)

__all__ = [  # the wire's names, read through this module by the journal, the adapter and the engine
    "SOH",
    "FixMessage",
    "MalformedMessage",
    "UnsupportedMessage",
    "fix_decimal",
    "fix_time",
    "order_id_of",
    "parse",
    "parse_fix_time",
    "wire_decimal",
]


# -- codes ---------------------------------------------------------------------------------

Fields = tuple[tuple[int, str], ...]

ZERO = Decimal(0)
_SIDES = {"buy": "1", "sell": "2"}
_ORD_TYPES = {"market": "1", "limit": "2", "stop": "3", "stop_limit": "4"}
_TIME_IN_FORCE = {"day": "0", "gtc": "1", "ioc": "3", "fok": "4"}
_LIMIT_TYPES = frozenset({"limit", "stop_limit"})
_STOP_TYPES = frozenset({"stop", "stop_limit"})

_EXEC_TYPES = {"0": ExecType.NEW, "4": ExecType.CANCELED, "5": ExecType.REPLACED, "8": ExecType.REJECTED}
_EXEC_TYPES["C"] = ExecType.EXPIRED
_ENDS = frozenset({ExecType.CANCELED, ExecType.REJECTED, ExecType.EXPIRED})
# Acknowledgements of a request still in progress (the answer that follows is what we book),
# and order status answers (read with ``venue_order``).
_INFORMATIONAL = frozenset({"A", "6", "E", "I"})
_UNSUPPORTED = {"H": "trade cancel (bust)", "G": "trade correct", "D": "restated", "3": "done for day"}
_UNSUPPORTED |= {"7": "stopped", "9": "suspended", "B": "calculated"}
_ORD_STATUS = {"0": "new", "1": "partially_filled", "2": "filled", "3": "done_for_day", "4": "canceled"}
_ORD_STATUS |= {"5": "replaced", "6": "pending", "7": "stopped", "8": "rejected", "9": "suspended", "A": "pending"}
_ORD_STATUS |= {"B": "calculated", "C": "expired", "D": "accepted_for_bidding", "E": "pending"}
# Statuses of an order the venue still holds open (it may still execute or be canceled).
_OPEN = frozenset({"new", "partially_filled", "pending", "done_for_day", "stopped", "suspended"})
_ORD_REJ_REASONS = {"0": "broker credit", "1": "unknown symbol", "2": "exchange closed", "3": "order exceeds limit"}
_ORD_REJ_REASONS |= {"4": "too late to enter", "5": "unknown order", "6": "duplicate order", "8": "stale order"}
_ORD_REJ_REASONS |= {"11": "unsupported order characteristic", "13": "incorrect quantity", "15": "unknown account"}
_CXL_REJ_REASONS = {"0": "too late to cancel", "1": "unknown order", "2": "broker credit", "6": "duplicate ClOrdID"}
_CXL_REJ_REASONS |= {"3": "order already in pending status", "5": "orig ord mod time"}
_COMM_TYPES = {"1": "per_unit", "2": "percent", "3": "absolute"}  # CommType 13
_FEE_BASES = {"0": "absolute", "1": "per_unit", "2": "percent"}  # MiscFeeBasis 891
_FEE_QUANTUM = Decimal("1E-8")  # what the intake stores (8 decimals)


# -- outbound ------------------------------------------------------------------------------


def _fields(*pairs: tuple[int, str | None]) -> Fields:
    """The pairs whose value is not None; an empty value or one holding SOH is refused."""
    out = []
    for tag, value in pairs:
        if value is None:
            continue
        if not value or SOH in value:
            raise ValueError(f"tag {tag} cannot carry {value!r}")
        out.append((tag, value))
    return tuple(out)


def _code(codes: dict[str, str], value: str, what: str) -> str:
    if value not in codes:
        raise ValueError(f"no FIX code for {what} {value!r} (known: {', '.join(codes)})")
    return codes[value]


def _quantity(value: Decimal) -> str:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"an order quantity must be a positive Decimal, got {value!r}")
    return fix_decimal(value)


def _terms(order_type: str, limit_price: Decimal | None, stop_price: Decimal | None) -> list[tuple[int, str | None]]:
    """OrdType 40, then Price 44 and StopPx 99 where the order type uses them (and only there)."""
    code = _code(_ORD_TYPES, order_type, "order type")
    if order_type in _LIMIT_TYPES and limit_price is None:
        raise ValueError(f"a {order_type} order needs a limit price")
    if order_type in _STOP_TYPES and stop_price is None:
        raise ValueError(f"a {order_type} order needs a stop price")
    return [
        (40, code),
        (44, fix_decimal(limit_price) if order_type in _LIMIT_TYPES and limit_price is not None else None),
        (99, fix_decimal(stop_price) if order_type in _STOP_TYPES and stop_price is not None else None),
    ]


def _own_request_id(ticket: OrderTicket) -> str:
    """A cancel's or replace's own ClOrdID: it must differ from the one it names (OrigClOrdID)."""
    original = ticket.original_request_id or str(ticket.order_id)
    if not ticket.request_id or ticket.request_id == original:
        raise ValueError(f"order {ticket.order_id}: a cancel or replace needs its own request id")
    return ticket.request_id


def new_order_single(ticket: OrderTicket, *, now: datetime) -> Fields:
    """NewOrderSingle (D) for a submit: ClOrdID is the ticket's request id (else the order id)."""
    return _fields(
        (11, ticket.request_id or str(ticket.order_id)),
        (1, ticket.account_number or None),
        (21, "1"),  # HandlInst: automated execution, no intervention
        (55, ticket.symbol),
        (54, _code(_SIDES, ticket.side, "side")),
        (60, fix_time(now)),
        (38, _quantity(ticket.quantity)),
        *_terms(ticket.order_type, ticket.limit_price, ticket.stop_price),
        (59, _code(_TIME_IN_FORCE, ticket.time_in_force, "time in force")),
    )


def cancel_request(ticket: OrderTicket, *, now: datetime) -> Fields:
    """OrderCancelRequest (F): names the request the venue works (41) and the order (37, if known)."""
    return _fields(
        (41, ticket.original_request_id or str(ticket.order_id)),
        (37, ticket.broker_order_id or None),
        (11, _own_request_id(ticket)),
        (1, ticket.account_number or None),
        (55, ticket.symbol),
        (54, _code(_SIDES, ticket.side, "side")),
        (60, fix_time(now)),
        (38, _quantity(ticket.quantity)),
    )


def cancel_replace_request(ticket: OrderTicket, request: ReplaceRequest, *, now: datetime) -> Fields:
    """OrderCancelReplaceRequest (G): the new quantity and prices (a price the request leaves None
    keeps the ticket's, sent again since G restates the whole order); OrdType and TIF unchanged."""
    limit_price = request.limit_price if request.limit_price is not None else ticket.limit_price
    stop_price = request.stop_price if request.stop_price is not None else ticket.stop_price
    return _fields(
        (37, ticket.broker_order_id or None),
        (41, ticket.original_request_id or str(ticket.order_id)),
        (11, _own_request_id(ticket)),
        (1, ticket.account_number or None),
        (21, "1"),
        (55, ticket.symbol),
        (54, _code(_SIDES, ticket.side, "side")),
        (60, fix_time(now)),
        (38, _quantity(request.quantity)),
        *_terms(ticket.order_type, limit_price, stop_price),
        (59, _code(_TIME_IN_FORCE, ticket.time_in_force, "time in force")),
    )


def order_status_request(ticket: OrderTicket) -> Fields:
    """OrderStatusRequest (H) for the ticket's request id (else the order id)."""
    return _fields(
        (37, ticket.broker_order_id or None),
        (11, ticket.request_id or str(ticket.order_id)),
        (55, ticket.symbol),
        (54, _code(_SIDES, ticket.side, "side")),
    )


def order_mass_status_request(req_id: str) -> Fields:
    """OrderMassStatusRequest (AF) for all orders (585=7)."""
    return _fields((584, req_id), (585, "7"))


def request_for_positions(req_id: str, *, account: str, business_date: date, now: datetime) -> Fields:
    """RequestForPositions (AN) for one account's positions on a business day. The Parties
    component is required by FIX 4.4 but none of its fields is: none is sent."""
    return _fields(
        (710, req_id),
        (724, "0"),  # PosReqType: positions
        (1, account),
        (581, "1"),  # AccountType: carried customer side
        (715, business_date.strftime("%Y%m%d")),
        (60, fix_time(now)),
    )


# -- inbound -------------------------------------------------------------------------------


def _expect(msg: FixMessage, msg_type: str) -> None:
    if msg.msg_type != msg_type:
        raise MalformedMessage(f"expected MsgType 35={msg_type}, got 35={msg.msg_type}")


def _decimal(msg: FixMessage, tag: int) -> Decimal | None:
    value = msg.get(tag)
    return None if value is None else wire_decimal(value, tag)


def _required_decimal(msg: FixMessage, tag: int) -> Decimal:
    return wire_decimal(msg.require(tag), tag)


def _our_order_id(msg: FixMessage) -> int:
    """The order id from ClOrdID 11, else from OrigClOrdID 41."""
    try:
        return order_id_of(msg.require(11))
    except MalformedMessage:
        original = msg.get(41)
        if original is None:
            raise
        return order_id_of(original)


def _venue_id(msg: FixMessage) -> str:
    value = msg.get(37) or ""
    return "" if value == "NONE" else value  # "NONE": FIX's OrderID for an order it does not know


def _reason_text(names: dict[str, str], code: str | None, text: str) -> str:
    """ "too late to cancel (0): text" from a reason code and the free text, either may be absent."""
    if code is None:
        return text
    reason = f"{names.get(code, 'other')} ({code})"
    return f"{reason}: {text}" if text else reason


def _time(msg: FixMessage) -> datetime | None:
    value = msg.get(60)
    return None if value is None else parse_fix_time(value)


def _by_basis(amount: Decimal, basis: str, quantity: Decimal, price: Decimal) -> Decimal:
    if basis == "per_unit":
        return amount * quantity
    if basis == "percent":
        return amount * quantity * price / 100
    return amount


def _fee(msg: FixMessage, quantity: Decimal, price: Decimal) -> Decimal:
    """Commission 12 by CommType 13 (absent: absolute) plus every MiscFeeAmt 137 of NoMiscFees 136
    by its MiscFeeBasis 891 (absent: absolute); computed amounts are rounded half up to 8 places."""
    total = ZERO
    commission = _decimal(msg, 12)
    if commission is not None:
        comm_type = msg.get(13) or "3"
        if comm_type not in _COMM_TYPES:
            raise UnsupportedMessage(f"CommType 13={comm_type} is not supported")
        total += _by_basis(commission, _COMM_TYPES[comm_type], quantity, price)
    fees = msg.group(136, 137)
    for member in fees:
        basis = member.get(891, "0")
        if basis not in _FEE_BASES:
            raise UnsupportedMessage(f"MiscFeeBasis 891={basis} is not supported")
        total += _by_basis(wire_decimal(member[137], 137), _FEE_BASES[basis], quantity, price)
    currencies = {c for c in (msg.get(15), msg.get(479), *(m.get(138) for m in fees)) if c}
    if len(currencies) > 1:
        raise UnsupportedMessage(f"fees in several currencies cannot be added up: {sorted(currencies)}")
    exponent = total.as_tuple().exponent
    return total.quantize(_FEE_QUANTUM, ROUND_HALF_UP) if isinstance(exponent, int) and exponent < -8 else total


def execution_report(msg: FixMessage) -> ExecutionReport | None:
    """The report an ExecutionReport (8) books, or None for an acknowledgement we do not book
    (pending new/cancel/replace, order status: read those with ``venue_order``).

    Trades (150=F) are FILL when LeavesQty is 0 or OrdStatus is filled, else PARTIAL_FILL, with
    their fee. CANCELED, REJECTED and EXPIRED carry LeavesQty 0 (FIX and the interface say so).
    ``UnsupportedMessage`` for trade busts and corrections, restatements, the other ExecTypes and
    sides other than buy/sell (sell short)."""
    _expect(msg, "8")
    code = msg.require(150)
    if code == "I":  # a status answer (H, AF): read by ``venue_order``; an empty AF answer names no order
        return None
    exec_id, request_id, order_status = msg.require(17), msg.require(11), msg.require(39)
    cumulative, leaves = _required_decimal(msg, 14), _required_decimal(msg, 151)
    if code in _INFORMATIONAL:
        return None
    if code in _UNSUPPORTED:
        raise UnsupportedMessage(f"ExecType 150={code} ({_UNSUPPORTED[code]}) on {exec_id} needs a person")
    if code != "F" and code not in _EXEC_TYPES:
        raise UnsupportedMessage(f"unknown ExecType 150={code!r} on {exec_id}")
    side = msg.get(54)
    if side is not None and side not in _SIDES.values():
        raise UnsupportedMessage(f"Side 54={side} (only buy 1 and sell 2 are booked) on {exec_id}")
    last_quantity, last_price, fee = ZERO, None, ZERO
    if code == "F":
        last_quantity, price = _required_decimal(msg, 32), _required_decimal(msg, 31)
        if last_quantity <= 0:
            raise MalformedMessage(f"a trade needs a positive LastQty 32, got {last_quantity}")
        if price <= 0:
            raise UnsupportedMessage(f"a trade at a non-positive LastPx 31 ({price}) is not booked")
        last_price, fee = price, _fee(msg, last_quantity, price)
        exec_type = ExecType.FILL if leaves == 0 or order_status == "2" else ExecType.PARTIAL_FILL
    else:
        exec_type = _EXEC_TYPES[code]
    text = msg.get(58) or ""
    if exec_type == ExecType.REJECTED:
        text = _reason_text(_ORD_REJ_REASONS, msg.get(103), text)
    return ExecutionReport(
        exec_id=exec_id,
        order_id=_our_order_id(msg),
        exec_type=exec_type,
        broker_order_id=_venue_id(msg),
        last_quantity=last_quantity,
        last_price=last_price,
        fee=fee,
        cumulative_quantity=cumulative,
        leaves_quantity=ZERO if exec_type in _ENDS else leaves,
        broker_time=_time(msg),
        text=text,
        request_id=request_id,
        quantity=_decimal(msg, 38),
        limit_price=_decimal(msg, 44),
        stop_price=_decimal(msg, 99),
    )


def cancel_reject(msg: FixMessage) -> ExecutionReport:
    """An OrderCancelReject (9) as CANCEL_REJECTED (434=1) or REPLACE_REJECTED (434=2).

    A 9 has no ExecID: the exec id is ``9-{ClOrdID}``. A venue answers each cancel or replace
    request (each with its own ClOrdID) once, so the id is unique per answer and stable: a
    resent copy of the same 9 (PossDup) gets the same id and the intake books it once.
    A 9 carries no CumQty or LeavesQty: both are 0, as the paper venue's rejection of a request
    for an order it does not know (the orders app only raises its venue quantity from a report's
    CumQty, so 0 never lowers it; the order's own reports carry its quantities)."""
    _expect(msg, "9")
    request_id, response_to = msg.require(11), msg.require(434)
    kinds = {"1": ExecType.CANCEL_REJECTED, "2": ExecType.REPLACE_REJECTED}
    if response_to not in kinds:
        raise MalformedMessage(f"CxlRejResponseTo 434 must be 1 or 2, got {response_to!r}")
    return ExecutionReport(
        exec_id=f"9-{request_id}",
        order_id=_our_order_id(msg),
        exec_type=kinds[response_to],
        broker_order_id=_venue_id(msg),
        broker_time=_time(msg),
        text=_reason_text(_CXL_REJ_REASONS, msg.get(102), msg.get(58) or ""),
        request_id=request_id,
    )


@dataclass(frozen=True)
class VenueOrder:
    """What an ExecutionReport with ExecType I (the answer to H or AF) says about one order."""

    order_id: int | None  # None when ClOrdID 11 is not one of ours
    request_id: str
    broker_order_id: str
    known: bool  # False: the venue does not know the order (OrdStatus 8 with OrdRejReason 103=5)
    status: str  # from OrdStatus 39: "new", "partially_filled", "filled", "canceled", "pending"...
    quantity: Decimal | None
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    mass_status_req_id: str  # 584, "" if absent
    last_of_batch: bool  # 912 LastRptRequested "Y" (absent: True unless part of a mass status)


def venue_order(msg: FixMessage) -> VenueOrder:
    """Read an order status answer (8 with 150=I)."""
    _expect(msg, "8")
    if msg.require(150) != "I":
        raise MalformedMessage(f"an order status answer has ExecType 150=I, got 150={msg.get(150)}")
    # a mass status answer with no orders (911=0) may name none: 11 is optional there
    request_id = msg.get(11) or "" if msg.get(584) else msg.require(11)
    order_status = msg.require(39)
    if order_status not in _ORD_STATUS:
        raise MalformedMessage(f"unknown OrdStatus 39={order_status!r}")
    try:
        order_id: int | None = order_id_of(request_id) if request_id else None
    except MalformedMessage:
        order_id = None
    mass_status_req_id = msg.get(584) or ""
    last = msg.get(912)
    return VenueOrder(
        order_id=order_id,
        request_id=request_id,
        broker_order_id=_venue_id(msg),
        known=not (order_status == "8" and msg.get(103) == "5"),
        status=_ORD_STATUS[order_status],
        quantity=_decimal(msg, 38),
        cumulative_quantity=_required_decimal(msg, 14),
        leaves_quantity=_required_decimal(msg, 151),
        mass_status_req_id=mass_status_req_id,
        last_of_batch=last == "Y" if last is not None else not mass_status_req_id,
    )


def broker_order(order: VenueOrder) -> BrokerOrder | None:
    """The order as the interface's ``BrokerOrder`` if the venue still holds it open (new,
    partially filled, pending new/cancel/replace, stopped, suspended, done for the day: it may
    still execute), with the status "partially_filled" once anything executed; else None."""
    if not order.known or order.order_id is None or order.status not in _OPEN:
        return None
    quantity = order.quantity if order.quantity is not None else order.cumulative_quantity + order.leaves_quantity
    return BrokerOrder(
        order_id=order.order_id,
        broker_order_id=order.broker_order_id,
        quantity=quantity,
        cumulative_quantity=order.cumulative_quantity,
        leaves_quantity=order.leaves_quantity,
        status="partially_filled" if order.cumulative_quantity > 0 else "new",
        request_id=order.request_id,
    )


def positions(msg: FixMessage, *, pos_types: frozenset[str] | None = None) -> list[BrokerPosition]:
    """A PositionReport (AP) as positions: the sum of LongQty 704 less the sum of ShortQty 705 over
    the NoPositions 702 entries (PosType 703), only those of ``pos_types`` if given. Without it,
    entries of several PosTypes (start of day and end of day...) would be counted twice:
    ``UnsupportedMessage``. PosReqResult 728=2 (no positions) is no position; another failure
    is ``UnsupportedMessage`` (an empty answer must not read as a flat book)."""
    _expect(msg, "AP")
    result = msg.get(728, "0")
    if result == "2":
        return []
    if result != "0":
        raise UnsupportedMessage(f"the position request failed: PosReqResult 728={result} {msg.get(58) or ''}")
    account, symbol = msg.require(1), msg.require(55)
    entries = [e for e in msg.group(702, 703) if pos_types is None or e[703] in pos_types]
    if not entries:
        return []
    kinds = {e[703] for e in entries}
    if pos_types is None and len(kinds) > 1:
        raise UnsupportedMessage(f"{symbol}: several position types {sorted(kinds)}: say which to read")
    long_qty = sum((wire_decimal(e[704], 704) for e in entries if 704 in e), ZERO)
    short_qty = sum((wire_decimal(e[705], 705) for e in entries if 705 in e), ZERO)
    return [BrokerPosition(account_number=account, symbol=symbol, quantity=long_qty - short_qty)]
