"""A minimal QuickFIX initiator for the local venue's tests: records what it receives."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import quickfix as fix

DATA_DICTIONARY = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
SOH = "\x01"


@dataclass(frozen=True)
class Received:
    """One message as received: its fields in wire order, and the first value of each tag."""

    msg_type: str
    pairs: tuple[tuple[int, str], ...]
    admin: bool

    @classmethod
    def parse(cls, raw: str, admin: bool) -> Received:
        pairs = tuple((int(tag), value) for tag, _, value in (p.partition("=") for p in raw.split(SOH) if p))
        return cls(msg_type=dict(pairs)[35], pairs=pairs, admin=admin)

    def __getitem__(self, tag: int) -> str:
        return self.get(tag) or _missing(tag, self)

    def get(self, tag: int, default: str | None = None) -> str | None:
        return next((value for t, value in self.pairs if t == tag), default)

    def all(self, tag: int) -> list[str]:
        return [value for t, value in self.pairs if t == tag]


def _missing(tag: int, message: Received) -> str:
    raise KeyError(f"tag {tag} not in {message.pairs}")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")


class _App(fix.Application):  # type: ignore[misc]
    def __init__(self, client: VenueClient) -> None:
        super().__init__()
        self.client = client

    def onCreate(self, session_id):  # type: ignore[no-untyped-def]
        pass

    def onLogon(self, session_id):  # type: ignore[no-untyped-def]
        self.client._record_event("logon")

    def onLogout(self, session_id):  # type: ignore[no-untyped-def]
        self.client._record_event("logout")

    def toAdmin(self, message, session_id):  # type: ignore[no-untyped-def]
        pass

    def toApp(self, message, session_id):  # type: ignore[no-untyped-def]
        pass

    def fromAdmin(self, message, session_id):  # type: ignore[no-untyped-def]
        self.client._record(Received.parse(message.toString(), admin=True))

    def fromApp(self, message, session_id):  # type: ignore[no-untyped-def]
        self.client._record(Received.parse(message.toString(), admin=False))


class VenueClient:
    """Logs on to the venue at ``port`` as ``sender`` and records every message it receives."""

    def __init__(self, port: int, store_dir: str | os.PathLike[str], sender: str = "BACKOFFICE", target: str = "VENUE"):
        self.session_id = fix.SessionID("FIX.4.4", sender, target)
        self._cond = threading.Condition()
        self.received: list[Received] = []
        self.events: list[str] = []
        defaults = fix.Dictionary()
        values = {
            "ConnectionType": "initiator",
            "SocketConnectHost": "127.0.0.1",
            "SocketConnectPort": str(port),
            "HeartBtInt": "1",
            "ReconnectInterval": "1",
            "FileStorePath": str(Path(store_dir)),
            "DataDictionary": DATA_DICTIONARY,
            "UseDataDictionary": "Y",
            "StartTime": "00:00:00",
            "EndTime": "00:00:00",
            "NonStopSession": "Y",
            "TimestampPrecision": "6",
        }
        for key, value in values.items():
            defaults.setString(key, value)
        self.settings = fix.SessionSettings()
        self.settings.set(defaults)
        self.settings.set(self.session_id, fix.Dictionary())
        self._app = _App(self)
        self._initiator: fix.SocketInitiator | None = None

    def start(self, timeout: float = 10) -> VenueClient:
        self._initiator = fix.SocketInitiator(self._app, fix.FileStoreFactory(self.settings), self.settings)
        self._initiator.start()
        self.wait_logged_on(timeout)
        return self

    def stop(self) -> None:
        """Log out and destroy the engine's initiator now: a session left for the garbage
        collector would, when destroyed, unregister a later session with the same ids."""
        if self._initiator is not None:
            if self.is_logged_on():  # log out first: the engine's stop polls once a second
                fix.Session.lookupSession(self.session_id).logout()
                self.wait_until(lambda: not self.is_logged_on(), what="logout")
            self._initiator.stop()
            self._initiator = None

    # ---- recording and waiting

    def _record(self, message: Received) -> None:
        with self._cond:
            self.received.append(message)
            self._cond.notify_all()

    def _record_event(self, event: str) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; received: {self.app_messages()}")
                self._cond.wait(min(left, 0.05))

    def wait_logged_on(self, timeout: float = 10) -> None:
        self.wait_until(self.is_logged_on, timeout, "logon")

    def is_logged_on(self) -> bool:
        session = fix.Session.lookupSession(self.session_id)
        return bool(session is not None and session.isLoggedOn())

    def app_messages(self, msg_type: str | None = None) -> list[Received]:
        with self._cond:
            return [m for m in self.received if not m.admin and (msg_type is None or m.msg_type == msg_type)]

    def admin_messages(self, msg_type: str) -> list[Received]:
        with self._cond:
            return [m for m in self.received if m.admin and m.msg_type == msg_type]

    def matching(self, **tags: str) -> list[Received]:
        """Application messages whose tags have these values: ``matching(t11="1", t150="F")``."""
        wanted = {int(key[1:]): value for key, value in tags.items()}
        return [m for m in self.app_messages() if all(m.get(t) == v for t, v in wanted.items())]

    def wait_for(self, count: int = 1, timeout: float = 5, **tags: str) -> list[Received]:
        """Wait for at least ``count`` application messages matching ``tags``; return them all."""
        self.wait_until(lambda: len(self.matching(**tags)) >= count, timeout, f"{count} x {tags}")
        return self.matching(**tags)

    # ---- sending

    def send(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        """Send an application message built from raw fields (values as on the wire)."""
        message = fix.Message()
        message.getHeader().setField(fix.StringField(35, msg_type))
        for tag, value in fields:
            message.setField(fix.StringField(tag, value))
        if not fix.Session.sendToTarget(message, self.session_id):
            raise AssertionError(f"the engine did not send {msg_type}")

    def new_order(
        self,
        cl_ord_id: str,
        quantity: str,
        *,
        symbol: str = "AAPL",
        side: str = "1",
        ord_type: str = "1",
        price: str | None = None,
        stop: str | None = None,
        tif: str = "0",
        account: str = "ACC-1",
    ) -> None:
        fields = [(11, cl_ord_id), (1, account), (55, symbol), (54, side), (38, quantity), (40, ord_type)]
        fields += [(59, tif), (60, now_text())]
        fields += [(44, price)] if price is not None else []
        fields += [(99, stop)] if stop is not None else []
        self.send("D", fields)

    def cancel(self, cl_ord_id: str, orig: str, *, quantity: str = "10", symbol: str = "AAPL", side: str = "1") -> None:
        fields = [(11, cl_ord_id), (41, orig), (55, symbol), (54, side), (38, quantity), (60, now_text())]
        self.send("F", fields)

    def replace(
        self,
        cl_ord_id: str,
        orig: str,
        quantity: str,
        *,
        price: str | None = None,
        stop: str | None = None,
        ord_type: str = "2",
        symbol: str = "AAPL",
        side: str = "1",
    ) -> None:
        fields = [(11, cl_ord_id), (41, orig), (55, symbol), (54, side), (38, quantity), (40, ord_type)]
        fields += [(60, now_text())]
        fields += [(44, price)] if price is not None else []
        fields += [(99, stop)] if stop is not None else []
        self.send("G", fields)

    def status(self, cl_ord_id: str, *, symbol: str = "AAPL", side: str = "1", order_id: str | None = None) -> None:
        fields = [(11, cl_ord_id), (55, symbol), (54, side)] + ([(37, order_id)] if order_id else [])
        self.send("H", fields)

    def mass_status(self, request_id: str) -> None:
        self.send("AF", [(584, request_id), (585, "7")])

    def positions(self, request_id: str, account: str = "ACC-1") -> None:
        fields = [(710, request_id), (724, "0"), (1, account), (581, "1"), (715, datetime.now(UTC).strftime("%Y%m%d"))]
        self.send("AN", [*fields, (60, now_text())])
