"""A local FIX 4.4 venue: a QuickFIX acceptor over ``VenueBook``, for tests and the demo.

The engine owns the session layer (logon, heartbeats, sequence numbers, resend, gap fill), with
its message store in ``data_dir/store`` so sequence numbers survive a restart; the book's state is
``data_dir/venue.json``. Outbound application messages go through one sender thread, in the order
the book produced them, so no lock of ours is held while the engine sends.

Faults, for tests (all thread-safe):
- ``drop_connection()``: the engine disconnects the session; the initiator reconnects and the
  engine resends what it missed (43=Y).
- ``skip_sequence_numbers(n)``: the next outbound MsgSeqNum jumps by n; the counterparty asks
  for a resend and the engine answers with a SequenceReset-GapFill.
- ``duplicate_next_report()``: the next ExecutionReport is sent twice, the copy with 43=Y and
  122 = the first one's SendingTime. ``Session::send`` strips PossDupFlag and OrigSendingTime
  set by the caller, so they are set in ``toApp`` (called after the strip, before serialisation).
- ``reject_next(kind, text)``, ``cancel_unsolicited(cl_ord_id)``, ``hold_reports()`` /
  ``release_reports(reverse=True)``.
- ``drop_connection(stay_down=True)`` / ``accept_logons()``: the line stays down until allowed.
- ``send_report(fields)``: an arbitrary ExecutionReport (a trade bust, an unknown order).
- ``send_raw(data)``: QuickFIX gives no access to the socket, so this writes to the accepted
  TCP connection found through the operating system (Linux ``/proc/self/fd``), outside the
  engine: its sequence numbers do not move.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import quickfix as fix

from apps.brokers.interface import ReplaceRequest
from plugins.fix44.venue_book import NewOrder, Report, VenueBook
from plugins.paper import simulator as rules
from plugins.paper.config import PaperSettings
from plugins.paper.simulator import Market

logger = logging.getLogger(__name__)
ZERO = Decimal(0)

DATA_DICTIONARY = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
SIDES = {"1": rules.BUY, "2": rules.SELL}
ORD_TYPES = {"1": rules.MARKET, "2": rules.LIMIT, "3": rules.STOP, "4": rules.STOP_LIMIT}
TIMES_IN_FORCE = {"0": rules.DAY, "1": rules.GTC, "3": rules.IOC, "4": rules.FOK}
REJECT_KINDS = frozenset({"new", "cancel", "replace"})
TIMESTAMP = "%Y%m%d-%H:%M:%S.%f"


def _codes(table: dict[str, str]) -> dict[str, str]:
    return {name: code for code, name in table.items()}


SIDE_CODES, ORD_TYPE_CODES, TIF_CODES = _codes(SIDES), _codes(ORD_TYPES), _codes(TIMES_IN_FORCE)


def plain(value: Decimal) -> str:
    """A Decimal on the wire: no exponent, no trailing zeros (10, 0.01)."""
    return f"{value.normalize():f}" if value else "0"


def _get(message: Any, tag: int) -> str:
    return str(message.getField(tag)) if message.isSetField(tag) else ""


def _decimal(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")  # refused by the rules as not a positive Decimal


def build(msg_type: str, fields: list[tuple[int, str]], message: Any = None) -> Any:
    """A FIX message of ``msg_type`` with ``fields`` (empty values left out), as strings on the wire."""
    message = message if message is not None else fix.Message()
    message.getHeader().setField(fix.StringField(35, msg_type))
    for tag, text in fields:
        if text:
            message.setField(fix.StringField(tag, text))
    return message


def report_message(report: Report) -> Any:
    """The FIX message (8 or 9) of a book report; quantities and prices as decimal strings."""
    fields: list[tuple[int, str]] = [
        (37, report.order_id),
        (11, report.cl_ord_id or ("NONE" if report.msg_type == "9" else "")),
        (41, report.orig_cl_ord_id or ("NONE" if report.msg_type == "9" else "")),
        (39, report.ord_status),
        (1, report.account),
        (60, report.transact_time.strftime(TIMESTAMP)),
        (58, report.text),
    ]
    if report.msg_type == "9":
        fields += [(434, report.cxl_rej_response_to), (102, str(report.cxl_rej_reason))]
    else:
        fields += [
            (17, report.exec_id),
            (150, report.exec_type),
            (55, report.symbol or "[N/A]"),
            (54, SIDE_CODES.get(report.side, "7")),  # 7: undisclosed (no order)
            (38, plain(report.quantity) if report.order_type else ""),
            (40, ORD_TYPE_CODES.get(report.order_type, "")),
            (59, TIF_CODES.get(report.time_in_force, "")),
            (14, plain(report.cumulative_quantity)),
            (151, plain(report.leaves_quantity)),
            (6, plain(report.average_price)),
        ]
        optional = [(44, report.limit_price), (99, report.stop_price), (32, report.last_quantity)]
        fields += [(tag, plain(value)) for tag, value in [*optional, (31, report.last_price)] if value is not None]
        if report.commission is not None:
            fields += [(12, plain(report.commission)), (13, "3")]
        if report.ord_rej_reason is not None:
            fields.append((103, str(report.ord_rej_reason)))
        fields += list(report.extra.items())
    return build(report.msg_type, fields)


@dataclass
class _Outbound:
    msg_type: str
    message: Any


class VenueApplication(fix.Application):
    """The engine's callbacks: requests in, reports out through the venue."""

    def __init__(self, venue: Venue) -> None:
        super().__init__()
        self.venue = venue
        self.possdup = threading.local()

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 - the engine's names
        pass

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.venue.logged_off.clear()
        logger.info("fix venue: %s logged on", session_id.toString())

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.venue.logged_off.set()
        logger.info("fix venue: %s logged out", session_id.toString())

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        original = getattr(self.possdup, "sending_time", None)
        if original:  # the scripted duplicate, sent on this thread by the venue's sender
            message.getHeader().setField(fix.StringField(43, "Y"))
            message.getHeader().setField(fix.StringField(122, original))

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        msg_type = str(message.getHeader().getField(35))
        handler = self.venue.handlers.get(msg_type)
        if handler is None:
            raise fix.UnsupportedMessageType()
        handler(message)


class Venue:
    """A FIX 4.4 acceptor on ``port`` whose orders match against ``markets(symbol)``.

    ``sweep_seconds`` is the period of the background sweep (None: only explicit ``sweep()``);
    ``log`` is None (no engine log), "screen" or "file" (``data_dir/log``).
    """

    def __init__(
        self,
        *,
        port: int,
        data_dir: str | os.PathLike[str],
        markets: Callable[[str], Market | None],
        settings: PaperSettings | None = None,
        sender_comp_id: str = "VENUE",
        target_comp_id: str = "BACKOFFICE",
        sweep_seconds: float | None = 0.2,
        host: str = "127.0.0.1",
        log: str | None = None,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir)
        self.markets = markets
        self.sweep_seconds = sweep_seconds
        self.session_id = fix.SessionID("FIX.4.4", sender_comp_id, target_comp_id)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.book = VenueBook(settings, path=self.data_dir / "venue.json")
        self.handlers: dict[str, Callable[[Any], None]] = {
            "D": self._on_new,
            "F": self._on_cancel,
            "G": self._on_replace,
            "H": self._on_status,
            "AF": self._on_mass_status,
            "AN": self._on_positions,
        }
        self._settings = self._session_settings(host, log)
        self._log = log
        self._app = VenueApplication(self)
        self._acceptor: Any = None
        self._lock = threading.Lock()  # guards the fault switches and the outbound order
        self._rejects: dict[str, str] = {}
        self._holding = False
        self._held: list[_Outbound] = []
        self._duplicate_next = False
        self._outbound: queue.Queue[_Outbound | None] = queue.Queue()
        self._stopping = threading.Event()
        self.logged_off = threading.Event()
        self._threads: list[threading.Thread] = []
        self._engine_stop = threading.Event()
        self._engine: threading.Thread | None = None

    def _session_settings(self, host: str, log: str | None) -> Any:
        defaults = fix.Dictionary()
        values = {
            "ConnectionType": "acceptor",
            "SocketAcceptPort": str(self.port),
            "SocketAcceptHost": host,
            "FileStorePath": str(self.data_dir / "store"),
            "FileLogPath": str(self.data_dir / "log"),
            "DataDictionary": DATA_DICTIONARY,
            "UseDataDictionary": "Y",
            "StartTime": "00:00:00",
            "EndTime": "00:00:00",
            "NonStopSession": "Y",  # no daily sequence reset: the store survives restarts
            "SocketNodelay": "Y",  # no Nagle: a report is not held back waiting for an ACK
            "TimestampPrecision": "6",
            "ResetOnLogon": "N",
            "ResetOnLogout": "N",
            "ResetOnDisconnect": "N",
        }
        for key, value in values.items():
            defaults.setString(key, value)
        settings = fix.SessionSettings()
        settings.set(defaults)
        settings.set(self.session_id, fix.Dictionary())
        return settings

    # ---- lifecycle

    def start(self) -> Venue:
        store = fix.FileStoreFactory(self._settings)
        if self._log == "screen":
            self._acceptor = fix.SocketAcceptor(self._app, store, self._settings, fix.ScreenLogFactory(self._settings))
        elif self._log == "file":
            self._acceptor = fix.SocketAcceptor(self._app, store, self._settings, fix.FileLogFactory(self._settings))
        else:
            self._acceptor = fix.SocketAcceptor(self._app, store, self._settings)
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._send_loop, name="fix-venue-sender", daemon=True)]
        if self.sweep_seconds:
            self._threads.append(threading.Thread(target=self._sweep_loop, name="fix-venue-sweep", daemon=True))
        self._engine_stop.clear()
        self._acceptor.poll()  # the first poll binds the port (and raises if it cannot)
        self._engine = threading.Thread(target=self._engine_loop, name="fix-venue-engine", daemon=True)
        for thread in [*self._threads, self._engine]:
            thread.start()
        return self

    def _engine_loop(self) -> None:
        """Drive the engine with ``poll`` and stop it from this same thread: the engine's own
        thread (``start``) races its ``stop`` (both close the server's sockets) and crashed."""
        acceptor = self._acceptor
        while not self._engine_stop.is_set():
            acceptor.poll()
            self._engine_stop.wait(0.002)
        acceptor.stop(True)

    def stop(self) -> None:
        """Stop sweeping, send what is queued (held reports included), log out and stop."""
        if self._acceptor is None:
            return
        self._stopping.set()
        self.release_reports(reverse=False)
        self._outbound.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        session = fix.Session.lookupSession(self.session_id)
        if session is not None and session.isLoggedOn():  # log out while the engine still runs
            session.logout("the venue is stopping")
            self.logged_off.wait(5)
        self._engine_stop.set()
        if self._engine is not None:
            self._engine.join(timeout=15)
        self._acceptor = None

    def __enter__(self) -> Venue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def is_logged_on(self) -> bool:
        session = fix.Session.lookupSession(self.session_id)
        return bool(session is not None and session.isLoggedOn())

    def _session(self) -> Any:
        session = fix.Session.lookupSession(self.session_id)
        if session is None:
            raise RuntimeError("the venue is not running")
        return session

    # ---- outbound

    def _emit(self, reports: list[Report]) -> None:
        with self._lock:
            for report in reports:
                item = _Outbound(report.msg_type, report_message(report))
                if self._holding:
                    self._held.append(item)
                else:
                    self._outbound.put(item)

    def _send_loop(self) -> None:
        while (item := self._outbound.get()) is not None:
            try:
                self._send(item)
            except Exception:  # a send must not end the loop
                logger.exception("fix venue: could not send a %s", item.msg_type)

    def _send(self, item: _Outbound) -> None:
        fix.Session.sendToTarget(item.message, self.session_id)
        with self._lock:
            duplicate = self._duplicate_next and item.msg_type == "8"
            self._duplicate_next = self._duplicate_next and not duplicate
        if duplicate:
            self._app.possdup.sending_time = str(item.message.getHeader().getField(52))
            try:
                fix.Session.sendToTarget(item.message, self.session_id)
            finally:
                self._app.possdup.sending_time = None

    def sweep(self) -> int:
        """Re-evaluate every resting order now; the number of reports produced."""
        reports = self.book.sweep(self.markets)
        self._emit(reports)
        return len(reports)

    def _sweep_loop(self) -> None:
        assert self.sweep_seconds
        while not self._stopping.wait(self.sweep_seconds):
            try:
                self.sweep()
            except Exception:  # a bad price source must not end the loop
                logger.exception("fix venue: sweep failed")

    # ---- requests

    def _refusal(self, kind: str) -> str | None:
        with self._lock:
            return self._rejects.pop(kind, None)

    def _on_new(self, message: Any) -> None:
        symbol, side = _get(message, 55), _get(message, 54)
        ord_type, tif = _get(message, 40), _get(message, 59) or "0"
        request = NewOrder(
            cl_ord_id=_get(message, 11),
            account=_get(message, 1),
            symbol=symbol,
            side=SIDES.get(side, f"fix:{side}"),
            order_type=ORD_TYPES.get(ord_type, f"fix:{ord_type}"),
            time_in_force=TIMES_IN_FORCE.get(tif, f"fix:{tif}"),
            quantity=_decimal(_get(message, 38)) or Decimal("NaN"),
            limit_price=_decimal(_get(message, 44)),
            stop_price=_decimal(_get(message, 99)),
        )
        self._emit(self.book.new_order(request, self.markets(symbol), refuse=self._refusal("new")))

    def _on_cancel(self, message: Any) -> None:
        cl, orig, order_id = _get(message, 11), _get(message, 41), _get(message, 37)
        self._emit([self.book.cancel(cl, orig, order_id, refuse=self._refusal("cancel"))])

    def _on_replace(self, message: Any) -> None:
        cl, orig, order_id = _get(message, 11), _get(message, 41), _get(message, 37)
        change = ReplaceRequest(
            quantity=_decimal(_get(message, 38)) or Decimal("NaN"),
            limit_price=_decimal(_get(message, 44)),
            stop_price=_decimal(_get(message, 99)),
        )
        order = self.book.find(orig, order_id)
        market = self.markets(order.symbol) if order is not None else None
        self._emit(self.book.replace(cl, orig, change, market, order_id, refuse=self._refusal("replace")))

    def _on_status(self, message: Any) -> None:
        side = SIDES.get(_get(message, 54), "")
        report = self.book.status(_get(message, 11), _get(message, 37), symbol=_get(message, 55), side=side)
        self._emit([report])

    def _on_mass_status(self, message: Any) -> None:
        self._emit(self.book.mass_status(_get(message, 584)))

    def _on_positions(self, message: Any) -> None:
        """AO (PosReqResult 0 valid, 2 none found), then one AP per (account, symbol)."""
        request_id, account = _get(message, 710), _get(message, 1)
        account_type, business_date = _get(message, 581) or "1", _get(message, 715)
        positions = self.book.positions(account)
        total, result = str(len(positions)), "0" if positions else "2"  # 2: no positions found
        ack = [(721, self.book.new_id("P")), (710, request_id), (727, total), (728, result), (729, "0")]
        outbound = [_Outbound("AO", build("AO", [*ack, (1, account or "ALL"), (581, account_type)]))]
        for holder, symbol, quantity in positions:
            market = self.markets(symbol)
            price = plain(market.price) if market is not None and market.price is not None else "0"
            fields = [(721, self.book.new_id("P")), (710, request_id), (727, total), (728, "0"), (1, holder)]
            fields += [(715, business_date or _today()), (581, account_type), (55, symbol)]
            fields += [(730, price), (731, "1"), (734, price)]
            report = build("AP", fields)
            report.addGroup(_position_group(quantity))
            outbound.append(_Outbound("AP", report))
        with self._lock:
            for item in outbound:
                (self._held.append if self._holding else self._outbound.put)(item)

    # ---- faults

    def drop_connection(self, *, stay_down: bool = False) -> None:
        """Disconnect the session now (no logout); the initiator reconnects. With ``stay_down``
        the engine refuses its logons ("Session is not enabled for logon") until
        ``accept_logons()``: a test can then make the venue act while the line is down."""
        session = self._session()
        session.disconnect()
        if stay_down:
            session.logout()  # not logged on any more: this only disables the session

    def accept_logons(self) -> None:
        """Accept the initiator's logons again (after ``drop_connection(stay_down=True)``)."""
        self._session().logon()

    def skip_sequence_numbers(self, n: int) -> None:
        """Advance the next outbound MsgSeqNum by ``n``: the counterparty sees a gap."""
        session = self._session()
        session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + n)

    def duplicate_next_report(self) -> None:
        """Send the next ExecutionReport twice, the second with PossDupFlag 43=Y and 122."""
        with self._lock:
            self._duplicate_next = True

    def reject_next(self, kind: str, text: str = "rejected by the venue (scripted)") -> None:
        """Refuse the next request of ``kind`` ("new", "cancel" or "replace") with ``text``."""
        if kind not in REJECT_KINDS:
            raise ValueError(f"kind must be one of {sorted(REJECT_KINDS)}, not {kind!r}")
        with self._lock:
            self._rejects[kind] = text

    def cancel_unsolicited(self, cl_ord_id: str, text: str = "canceled by the venue") -> bool:
        """Cancel a working order on the venue's initiative; False when it is not working."""
        reports = self.book.cancel_unsolicited(cl_ord_id, text)
        self._emit(reports)
        return bool(reports)

    def hold_reports(self) -> None:
        """Queue outbound application messages until ``release_reports``."""
        with self._lock:
            self._holding = True

    def held_count(self) -> int:
        """How many outbound messages are held now."""
        with self._lock:
            return len(self._held)

    def held_for(self, cl_ord_id: str) -> list[str]:
        """The ExecTypes (150) of the held ExecutionReports whose ClOrdID is ``cl_ord_id``, in order."""
        with self._lock:
            held = [item.message for item in self._held if item.msg_type == "8"]
            return [_get(m, 150) for m in held if _get(m, 11) == cl_ord_id]

    def release_reports(self, reverse: bool = True) -> None:
        """Send the held messages (newest first when ``reverse``) and stop holding."""
        with self._lock:
            held, self._held, self._holding = self._held, [], False
            for item in reversed(held) if reverse else held:
                self._outbound.put(item)

    def send_report(self, fields: list[tuple[int, str]], msg_type: str = "8") -> None:
        """Send an application message the book would never produce (a trade bust, a report for
        an order nobody placed...) with ``fields`` as given, after the reports already queued,
        through the engine (sequenced, stored, resent like any other)."""
        item = _Outbound(msg_type, build(msg_type, fields))
        with self._lock:
            (self._held.append if self._holding else self._outbound.put)(item)

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` as is on the live connection (outside the engine; Linux only)."""
        connection = self._connection()
        if connection is None:
            raise RuntimeError("no live connection to the venue")
        with connection:
            connection.sendall(data)

    def _connection(self) -> socket.socket | None:
        """A duplicate of the accepted TCP connection's descriptor, found in ``/proc/self/fd``."""
        for name in os.listdir("/proc/self/fd"):
            try:
                fd = os.dup(int(name))
            except OSError:
                continue
            try:
                candidate = socket.socket(fileno=fd)
            except OSError:
                os.close(fd)
                continue
            try:
                if candidate.family in (socket.AF_INET, socket.AF_INET6) and candidate.getsockname()[1] == self.port:
                    candidate.getpeername()  # the listening socket has no peer
                    return candidate
            except OSError:
                pass
            candidate.close()
        return None


def _position_group(quantity: Decimal) -> Any:
    """One NoPositions (702) entry: PosType TQ, the long or the short quantity."""
    group = fix.Group(702, 703)
    for tag, text in ((703, "TQ"), (704, plain(max(quantity, ZERO))), (705, plain(max(-quantity, ZERO)))):
        group.setField(fix.StringField(tag, text))
    return group


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")
