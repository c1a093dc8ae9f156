"""The QuickFIX engine, behind one class (``Link``): the initiator of one FIX session, what it
sends and what it hands back. Nothing outside ``plugins/fix44`` imports the engine.

What the engine does: logon and logout, heartbeats and test requests, sequence numbers kept in
its file store (under the data dir, so they survive a restart), resend requests and gap fills,
PossDup / PossResend. What this class adds:

- every ExecutionReport (8) and OrderCancelReject (9) is journaled (``journal.record``, its own
  durable transaction) *inside* ``fromApp``: the engine counts a message as processed only after
  the callback returns, so a crash before the commit means the counterparty resends it;
- a journaling failure that outlasts a few retries is fatal (``on_fatal``, by default the
  process exits): carrying on would count a message as processed that is not recorded;
- nothing we send is resent after a reconnect: the store keeps our sequence numbers, not our
  messages (``PersistMessages=N``), so the engine answers a resend request with a gap fill. A
  stale order must not reach the venue late; its outcome is resolved by asking
  (OrderStatusRequest), as for a timeout. (Raising DoNotSend from ``toApp`` did the same, but
  the exception's traceback outlived the call inside the engine's bindings and kept the stopped
  engine, and its session id, alive: a new session under the same ids never connected);
- answers that are not booked (order status, mass status, positions) are handed to whoever
  waits for them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import quickfix as fix
from django.db import close_old_connections, connections
from django.utils import timezone

from apps.brokers.interface import BrokerError
from plugins.fix44 import journal, mapping
from plugins.fix44.config import FixSettings

logger = logging.getLogger(__name__)

ANSWERS = frozenset({"8", "AO", "AP"})  # answers a waiter may want (8: status answers, 150=I)
# answers kept for waiters: a mass status answers once per working order, all of which must be
# here when its last one arrives (a few MB at most)
KEPT_ANSWERS = 50_000


def data_dictionary() -> str:
    return os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")


def session_config(name: str, settings: FixSettings) -> str:
    """The engine's settings for the initiator of session ``name`` (QuickFIX's .cfg format)."""
    root = (settings.data_dir / name).resolve()
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        f"ReconnectInterval={settings.reconnect_seconds}",
        f"FileStorePath={root / 'store'}",
        f"FileLogPath={root / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        f"DataDictionary={data_dictionary()}",
        "ValidateUserDefinedFields=N",
        "AllowUnknownMsgFields=Y",
        "TimestampPrecision=6",
        "SocketNodelay=Y",  # no Nagle: an order is not held back waiting for an ACK
        "PersistMessages=N",  # what we sent is never resent: a resend request gets a gap fill
        "[SESSION]",
        "BeginString=FIX.4.4",
        f"SenderCompID={settings.sender_comp_id}",
        f"TargetCompID={settings.target_comp_id}",
        f"SocketConnectHost={settings.host}",
        f"SocketConnectPort={settings.port}",
        f"HeartBtInt={settings.heartbeat_seconds}",
        f"ResetOnLogon={'Y' if settings.reset_on_logon else 'N'}",
    ]
    if settings.tls:
        lines += ["SSLEnable=Y", "SSLProtocol=+TLSv1_2 +TLSv1_3"]
        lines += [f"CertificationAuthoritiesFile={settings.tls_ca_file}"]
        if settings.tls_certificate:
            lines += [
                f"ClientCertificateFile={settings.tls_certificate}",
                f"ClientCertificateKeyFile={settings.tls_private_key}",
            ]
    return "\n".join(lines) + "\n"


def build(msg_type: str, fields: mapping.Fields) -> Any:
    """A QuickFIX message of ``msg_type`` with ``fields`` (a body in order; a repeating group is
    its count tag followed by its members, each starting with the group's first tag)."""
    message = fix.Message()
    message.getHeader().setField(fix.BeginString("FIX.4.4"))
    message.getHeader().setField(fix.MsgType(msg_type))
    index = 0
    items = list(fields)
    while index < len(items):
        tag, value = items[index]
        group_spec = GROUPS.get(tag)
        if group_spec is None:
            message.setField(fix.StringField(tag, value))
            index += 1
            continue
        first, members = group_spec
        index += 1
        for _ in range(int(value)):
            group = fix.Group(tag, first)
            while index < len(items) and items[index][0] in members:
                if items[index][0] == first and group.isSetField(first):
                    break
                group.setField(fix.StringField(items[index][0], items[index][1]))
                index += 1
            message.addGroup(group)
    return message


# count tag -> (first member tag, member tags): the groups we send
GROUPS: dict[int, tuple[int, frozenset[int]]] = {
    453: (448, frozenset({448, 447, 452})),  # NoPartyIDs
}


class Link(fix.Application):
    """One FIX session's application side. ``session`` is the broker name the journal files under."""

    def __init__(self, session: str, settings: FixSettings, *, on_fatal: Callable[[BaseException], None] | None = None):
        super().__init__()
        self.session = session
        self.settings = settings
        self.on_fatal = on_fatal or _exit
        self.logged_on = threading.Event()
        self.session_id: Any = None
        self.logons = 0
        self._changed = threading.Condition()
        self._answers: list[mapping.FixMessage] = []
        self._journaled = 0  # counts journaled messages: waiters look again when it moves
        self._listeners: list[Callable[[], None]] = []
        self._logon_listeners: list[Callable[[], None]] = []
        self._initiator: Any = None
        self._engine: threading.Thread | None = None
        self._stop_engine = threading.Event()
        self._logged_off = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        root = self.settings.data_dir / self.session
        for part in ("store", "log"):
            Path(root / part).mkdir(parents=True, exist_ok=True)
        config = fix.SessionSettings()
        config.setFromString(session_config(self.session, self.settings))
        store = fix.FileStoreFactory(config)
        logs = fix.FileLogFactory(config) if self.settings.log_messages else None
        kind = fix.SSLSocketInitiator if self.settings.tls else fix.SocketInitiator
        self._initiator = kind(self, store, config, logs) if logs is not None else kind(self, store, config)
        self._initiator.poll()  # the first poll configures the session (and raises on bad settings)
        self._stop_engine.clear()
        self._engine = threading.Thread(target=self._engine_loop, name=f"fix-{self.session}-engine", daemon=True)
        self._engine.start()

    def _engine_loop(self) -> None:
        """Drive the engine with ``poll`` and stop it from this same thread: the engine's own
        thread (``start``) races its ``stop`` over the sockets, and crashed (seen on the venue's
        acceptor, about one stop in three)."""
        initiator = self._initiator
        try:
            while not self._stop_engine.is_set():
                try:
                    initiator.poll()
                except Exception:
                    # an error out of the engine's poll (a callback's, passed through) must not end
                    # the thread: the session would silently stop. Logged; the engine carries on.
                    logger.exception("fix %s: error in the engine's poll", self.session)
                    self._stop_engine.wait(0.1)
                self._stop_engine.wait(0.002)
            initiator.stop(True)
        finally:
            del initiator
            connections.close_all()  # this thread's own (the journal writes from the callbacks)

    def stop(self) -> None:
        """Log out (briefly waiting for the answer), then stop the engine."""
        if self._initiator is None:
            return
        session = fix.Session.lookupSession(self.session_id) if self.session_id is not None else None
        if session is not None and session.isLoggedOn():
            session.logout("the gateway is stopping")
            self._logged_off.wait(5)
        self._stop_engine.set()
        if self._engine is not None:
            self._engine.join(timeout=15)
        self._initiator = None
        self.logged_on.clear()

    def on_report(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the engine's thread, briefly) after each journaled report."""
        self._listeners.append(listener)

    def on_logon(self, listener: Callable[[], None]) -> None:
        self._logon_listeners.append(listener)

    # --- the engine's callbacks --------------------------------------------------------
    def onCreate(self, session_id: Any) -> None:  # noqa: N802 - the engine's names
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logons += 1
        self._logged_off.clear()
        self.logged_on.set()
        logger.info("fix %s: logged on", self.session)
        for listener in self._logon_listeners:
            listener()

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.logged_on.clear()
        self._logged_off.set()
        logger.info("fix %s: logged out", self.session)
        with self._changed:
            self._changed.notify_all()

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        return None

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        return None

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        raw = message.toString()
        msg_type = message.getHeader().getField(35)
        if msg_type in journal.BOOKED_TYPES:
            self._journal(raw)
        if msg_type in ANSWERS:
            try:
                parsed = mapping.parse(raw, validate=False)
            except mapping.MalformedMessage:
                return
            with self._changed:
                self._answers.append(parsed)
                del self._answers[:-KEPT_ANSWERS]  # answers nobody waits for do not pile up
                self._changed.notify_all()

    def _journal(self, raw: str) -> None:
        for attempt in range(5):
            try:
                close_old_connections()
                journal.record(self.session, raw, timezone.now())
                break
            except Exception as exc:
                logger.warning("fix %s: could not journal a report (attempt %d)", self.session, attempt + 1)
                if attempt == 4:
                    logger.critical("fix %s: journaling failed; the message is not counted", self.session)
                    self.on_fatal(exc)
                    raise
                time.sleep(0.2 * 2**attempt)
        with self._changed:
            self._journaled += 1
            self._changed.notify_all()
        for listener in self._listeners:
            listener()

    # --- what the adapter uses ---------------------------------------------------------
    def send(self, msg_type: str, fields: mapping.Fields) -> None:
        """Hand a message to the engine; ``BrokerError`` (transient) when the session is not up:
        the venue did not get it."""
        if not self.logged_on.is_set() or self.session_id is None:
            raise BrokerError(f"the FIX session {self.session} is not logged on", transient=True)
        if not fix.Session.sendToTarget(build(msg_type, fields), self.session_id):
            raise BrokerError(f"the FIX session {self.session} did not send the message", transient=True)

    def wait_for(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` (checked after every journaled report or answer) or the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True

    def answers(self, match: Callable[[mapping.FixMessage], bool]) -> Sequence[mapping.FixMessage]:
        """The answers received so far that ``match`` (call under ``wait_for``, or after it)."""
        return [m for m in self._answers if match(m)]

    def disconnect(self) -> None:
        if self.session_id is not None:
            session = fix.Session.lookupSession(self.session_id)
            if session is not None:
                session.disconnect()


def _exit(exc: BaseException) -> None:  # pragma: no cover - ends the process
    logging.shutdown()
    os._exit(75)
