"""The local FIX 4.4 venue's book: orders, their lifecycle and the reports they produce.

Engine-independent: plain Python over the paper broker's pure matching rules
(``plugins.paper.simulator``) and commission (``plugins.paper.commission``), mirroring the paper
venue's lifecycle (``plugins.paper.book``): accept -> NEW, evaluated at once; an IOC cancels what
did not fill, a FOK fills entirely or is canceled; resting orders are re-evaluated by ``sweep``;
DAY orders expire at ``day_close_utc``. Codes are FIX's (ExecType 150, OrdStatus 39); sides,
order types and times in force are the paper vocabulary ("buy", "limit", "ioc").

Every change happens under one lock and is saved (temp file + rename) before its reports are
returned, so a restarted venue keeps its working orders and never reuses an ExecID
(``{epoch}-{n}``: the epoch is drawn when the state file is created, the counter persisted).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.brokers.interface import OrderTicket, ReplaceRequest
from plugins.paper import simulator as rules
from plugins.paper.commission import fill_fee
from plugins.paper.config import PaperSettings
from plugins.paper.simulator import Market, Terms, storable

ZERO = Decimal(0)
PRICE_QUANTUM = Decimal("0.00000001")
# ExecType (150) and OrdStatus (39)
NEW, PARTIAL, FILLED, CANCELED, REPLACED, REJECTED, EXPIRED, TRADE, STATUS = "0", "1", "2", "4", "5", "8", "C", "F", "I"
WORKING = frozenset({NEW, PARTIAL})
KEEP_FINISHED = 1000  # finished orders kept in the saved state, the most recent ones
UNKNOWN = "NONE"  # OrderID of an order the venue does not know
# CxlRejReason (102) and OrdRejReason (103)
TOO_LATE, UNKNOWN_ORDER, BROKER_OPTION, OTHER = 0, 1, 2, 99
REJECT_BROKER_OPTION, UNKNOWN_SYMBOL, UNKNOWN_ORDER_STATUS = 0, 1, 5


@dataclass
class VenueOrder:
    order_id: str  # the venue's OrderID (37)
    cl_ord_id: str  # the ClOrdID whose terms the order works under now
    cl_ord_ids: list[str]  # every ClOrdID it has worked under (the submit, confirmed replaces)
    account: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    cumulative_quantity: Decimal = ZERO
    leaves_quantity: Decimal = ZERO
    notional: Decimal = ZERO  # sum of last qty x last px, for AvgPx
    commission: Decimal = ZERO
    status: str = NEW
    triggered: bool = False
    expires_at: datetime | None = None

    @property
    def average_price(self) -> Decimal:
        if self.cumulative_quantity == 0:
            return ZERO
        return (self.notional / self.cumulative_quantity).quantize(PRICE_QUANTUM)

    def terms(self) -> Terms:
        return Terms(
            side=self.side,
            order_type=self.order_type,
            quantity=self.quantity,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            cumulative_quantity=self.cumulative_quantity,
            triggered=self.triggered,
        )


@dataclass(frozen=True)
class NewOrder:
    """A NewOrderSingle (D) in the paper vocabulary; unparseable values arrive as NaN / raw text.
    Its fields are ``OrderTicket``'s after ``order_id``, in the same order."""

    cl_ord_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    time_in_force: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True)
class Report:
    """An ExecutionReport (``msg_type`` "8") or an OrderCancelReject ("9"), engine-free."""

    msg_type: str
    exec_id: str
    exec_type: str
    ord_status: str
    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    average_price: Decimal
    transact_time: datetime
    last_quantity: Decimal | None = None
    last_price: Decimal | None = None
    commission: Decimal | None = None
    text: str = ""
    ord_rej_reason: int | None = None
    cxl_rej_response_to: str = ""  # "1" cancel, "2" replace
    cxl_rej_reason: int | None = None
    extra: dict[int, str] = field(default_factory=dict)  # e.g. 584/911/912 on mass status answers


def day_expiry(now: datetime, settings: PaperSettings) -> datetime | None:
    """The next ``day_close_utc`` after ``now`` (None when DAY orders do not expire); as the paper book."""
    if settings.day_close_utc is None:
        return None
    close = datetime.combine(now.astimezone(UTC).date(), settings.day_close_utc, tzinfo=UTC)
    return close if close > now else close + timedelta(days=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VenueBook:
    """The venue's orders. ``path`` (a JSON file) persists the state; None keeps it in memory."""

    def __init__(
        self,
        settings: PaperSettings | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings or PaperSettings()
        self._path = Path(path) if path is not None else None
        self._clock = clock
        self._lock = threading.RLock()
        self._orders: dict[str, VenueOrder] = {}  # by OrderID, in arrival order
        self._by_cl_ord_id: dict[str, str] = {}
        self._trades: list[dict[str, str]] = []  # every execution since start, for an auditor's truth
        self._epoch = f"{time.time_ns() // 1_000_000:x}"
        self._seq = 0
        if self._path is not None and self._path.exists():
            self._load(self._path)
        else:
            self._save()

    # ---- identifiers and persistence

    def _next(self, prefix: str = "") -> str:
        self._seq += 1
        return f"{prefix}{self._epoch}-{self._seq}"

    def new_id(self, prefix: str) -> str:
        """A fresh identifier (never reused, also across restarts), e.g. for PosMaintRptID."""
        with self._lock:
            value = self._next(prefix)
            self._save()
            return value

    def _save(self) -> None:
        if self._path is None:
            return
        # working orders, and the last finished ones (status requests, duplicate ClOrdIDs): the file
        # stays small, so saving after every change stays cheap however long the venue runs
        finished = [o for o in self._orders.values() if o.status not in WORKING][-KEEP_FINISHED:]
        kept = [o for o in self._orders.values() if o.status in WORKING or o in finished]
        state = {"epoch": self._epoch, "seq": self._seq, "orders": [_dump(o) for o in kept]}
        tmp = self._path.with_name(self._path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text(encoding="utf-8"))
        self._epoch, self._seq = str(state["epoch"]), int(state["seq"])
        for raw in state["orders"]:
            order = _undump(raw)
            self._orders[order.order_id] = order
            for cl in order.cl_ord_ids:
                self._by_cl_ord_id[cl] = order.order_id

    # ---- lookups

    def find(self, cl_ord_id: str = "", order_id: str = "") -> VenueOrder | None:
        """The order named by its OrderID, else by any ClOrdID it has worked under."""
        with self._lock:
            if order_id and order_id in self._orders:
                return self._orders[order_id]
            key = self._by_cl_ord_id.get(cl_ord_id)
            return self._orders[key] if key is not None else None

    def orders(self) -> list[VenueOrder]:
        """Every order the venue has had, in arrival order (the objects themselves: read only)."""
        with self._lock:
            return list(self._orders.values())

    def working(self) -> list[VenueOrder]:
        with self._lock:
            return [o for o in self._orders.values() if o.status in WORKING]

    def trades(self) -> list[dict[str, str]]:
        """Every execution the venue made since it started: exec id, the order's first ClOrdID,
        quantity, price and fee (as strings), in order (in memory: a test's truth)."""
        with self._lock:
            return [dict(t) for t in self._trades]

    def positions(self, account: str = "") -> list[tuple[str, str, Decimal]]:
        """Net filled quantity per (account, symbol), buys less sells; flat ones omitted."""
        net: dict[tuple[str, str], Decimal] = {}
        with self._lock:
            for o in self._orders.values():
                if o.cumulative_quantity > 0 and (not account or o.account == account):
                    signed = o.cumulative_quantity if o.side == rules.BUY else -o.cumulative_quantity
                    net[(o.account, o.symbol)] = net.get((o.account, o.symbol), ZERO) + signed
        return [(a, s, q) for (a, s), q in sorted(net.items()) if q != 0]

    # ---- reports

    def _report(self, order: VenueOrder, exec_type: str, now: datetime, **fields: Any) -> Report:
        values = {name: getattr(order, name) for name in _SHARED.split()}
        values |= {"msg_type": "8", "exec_id": self._next(), "exec_type": exec_type, "ord_status": order.status}
        values |= {"orig_cl_ord_id": "", "transact_time": now, **fields}
        return Report(**values)

    def _cancel_reject(self, order: VenueOrder | None, to: str, reason: int, text: str, ids: tuple[str, str]) -> Report:
        """An OrderCancelReject answering a cancel (``to`` "1") or a replace ("2"); ``ids`` are the
        request's ClOrdID and OrigClOrdID."""
        if order is None:
            order = VenueOrder(UNKNOWN, ids[1], [], "", "", "", "", "", ZERO, None, None, status=REJECTED)
        fields = {"msg_type": "9", "exec_id": "", "cl_ord_id": ids[0], "orig_cl_ord_id": ids[1] or order.cl_ord_id}
        return self._report(
            order, "", self._clock(), text=text, cxl_rej_response_to=to, cxl_rej_reason=reason, **fields
        )

    def _finish(self, order: VenueOrder, status: str, now: datetime, text: str, **fields: Any) -> Report:
        order.status = status
        order.leaves_quantity = ZERO
        return self._report(order, status, now, text=text, **fields)

    def _fill(self, order: VenueOrder, quantity: Decimal, price: Decimal, now: datetime) -> Report:
        fee = fill_fee(filled_before=order.cumulative_quantity, quantity=quantity, settings=self.settings)
        order.cumulative_quantity += quantity
        order.leaves_quantity -= quantity
        order.notional += quantity * price
        order.commission += fee
        order.status = FILLED if order.leaves_quantity == 0 else PARTIAL
        report = self._report(order, TRADE, now, last_quantity=quantity, last_price=price, commission=fee)
        trade = {"exec_id": report.exec_id, "cl_ord_id": order.cl_ord_ids[0] if order.cl_ord_ids else order.cl_ord_id}
        trade |= {"quantity": str(quantity), "price": str(price), "fee": str(fee)}
        self._trades.append(trade)
        return report

    def _work(self, order: VenueOrder, market: Market | None, now: datetime) -> list[Report]:
        """Evaluate a working order once (IOC and FOK only on arrival), as ``plugins.paper.book.work``."""
        result = rules.evaluate(order.terms(), market, self.settings)
        order.triggered = result.triggered
        if order.time_in_force == rules.FOK and result.quantity < order.leaves_quantity:
            return [self._finish(order, CANCELED, now, "FOK: could not fill entirely")]
        reports = []
        if result.quantity > 0:
            assert result.price is not None
            reports.append(self._fill(order, result.quantity, result.price, now))
        if order.time_in_force in rules.IMMEDIATE and order.leaves_quantity > 0:
            reports.append(self._finish(order, CANCELED, now, "IOC: remainder canceled"))
        return reports

    # ---- requests

    def new_order(self, request: NewOrder, market: Market | None, *, refuse: str | None = None) -> list[Report]:
        """Accept (NEW, then what executes now) or reject (150=8) a new order. A ClOrdID seen
        before is answered with the existing order's state (150=I), never a second order."""
        now = self._clock()
        with self._lock:
            existing = self.find(request.cl_ord_id)
            if existing is not None:
                report = self._report(existing, STATUS, now, text="duplicate ClOrdID: the order's current state")
                self._save()
                return [report]
            ticket = OrderTicket(0, *astuple(request))  # the same fields, in the same order
            values = asdict(request) | {
                "quantity": max(storable(request.quantity) or ZERO, ZERO),
                "limit_price": storable(request.limit_price),
                "stop_price": storable(request.stop_price),
            }
            order = VenueOrder(order_id=self._next("O"), cl_ord_ids=[request.cl_ord_id], **values)
            self._orders[order.order_id] = order
            self._by_cl_ord_id[order.cl_ord_id] = order.order_id
            reason = refuse or rules.rejection(ticket, market, rules.CAPABILITIES)
            if reason is not None or market is None:
                code = REJECT_BROKER_OPTION if refuse else UNKNOWN_SYMBOL if market is None else OTHER
                reports = [self._finish(order, REJECTED, now, reason or "rejected", ord_rej_reason=code)]
            else:
                order.leaves_quantity = order.quantity
                if order.time_in_force == rules.DAY:
                    order.expires_at = day_expiry(now, self.settings)
                reports = [self._report(order, NEW, now), *self._work(order, market, now)]
            self._save()
            return reports

    def cancel(self, cl_ord_id: str, orig_cl_ord_id: str, order_id: str = "", *, refuse: str | None = None) -> Report:
        """Cancel a working order (150=4 naming this request and, in 41, the ClOrdID it worked
        under); anything else is an OrderCancelReject (434=1)."""
        now = self._clock()
        with self._lock:
            order = self.find(orig_cl_ord_id, order_id)
            ids = (cl_ord_id, orig_cl_ord_id)
            if order is None:
                report = self._cancel_reject(None, "1", UNKNOWN_ORDER, "unknown order", ids)
            elif refuse is not None or order.status not in WORKING:
                reason, text = (
                    (BROKER_OPTION, refuse) if refuse else (TOO_LATE, f"the order is {_STATUS[order.status]}")
                )
                report = self._cancel_reject(order, "1", reason, text, (cl_ord_id, order.cl_ord_id))
            else:
                report = self._finish(
                    order, CANCELED, now, "canceled on request", cl_ord_id=cl_ord_id, orig_cl_ord_id=order.cl_ord_id
                )
                order.cl_ord_ids.append(cl_ord_id)  # a later request may name the cancel
                self._by_cl_ord_id[cl_ord_id] = order.order_id
            self._save()
            return report

    def replace(
        self,
        cl_ord_id: str,
        orig_cl_ord_id: str,
        change: ReplaceRequest,
        market: Market | None,
        order_id: str = "",
        *,
        refuse: str | None = None,
    ) -> list[Report]:
        """Replace a working order's quantity and prices (None keeps a price): 150=5 with the new
        terms, then the new terms are evaluated at once; a refusal is an OrderCancelReject (434=2)."""
        now = self._clock()
        with self._lock:
            order = self.find(orig_cl_ord_id, order_id)
            reason: str | None = "unknown order" if order is None else refuse
            code = UNKNOWN_ORDER if order is None else BROKER_OPTION
            if reason is None and order is not None and order.status not in WORKING:
                reason, code = f"the order is {_STATUS[order.status]}", TOO_LATE
            if reason is None and order is not None:
                reason, code = rules.replace_rejection(order.terms(), change, market), OTHER
            if reason is not None or order is None:
                orig = order.cl_ord_id if order is not None else orig_cl_ord_id
                reports = [self._cancel_reject(order, "2", code, reason or "", (cl_ord_id, orig))]
                self._save()
                return reports
            previous = order.cl_ord_id
            order.quantity = change.quantity
            order.limit_price = change.limit_price if change.limit_price is not None else order.limit_price
            order.stop_price = change.stop_price if change.stop_price is not None else order.stop_price
            order.leaves_quantity = order.quantity - order.cumulative_quantity
            order.cl_ord_id = cl_ord_id
            order.cl_ord_ids.append(cl_ord_id)
            self._by_cl_ord_id[cl_ord_id] = order.order_id
            if order.leaves_quantity == 0:
                order.status = FILLED  # replaced down to what had filled: done
            reports = [self._report(order, REPLACED, now, orig_cl_ord_id=previous)]
            if order.status in WORKING:
                reports += self._work(order, market, now)
            self._save()
            return reports

    def status(self, cl_ord_id: str, order_id: str = "", *, symbol: str = "", side: str = "") -> Report:
        """The order's current state (150=I); an unknown order: 39=8, 103=5, 58 "unknown order"."""
        now = self._clock()
        with self._lock:
            order = self.find(cl_ord_id, order_id)
            if order is None:
                blank = VenueOrder(UNKNOWN, cl_ord_id, [], "", symbol, side, "", "", ZERO, None, None, status=REJECTED)
                report = self._report(blank, STATUS, now, text="unknown order", ord_rej_reason=UNKNOWN_ORDER_STATUS)
            else:
                report = self._report(order, STATUS, now)
            self._save()
            return report

    def mass_status(self, request_id: str) -> list[Report]:
        """One 150=I per working order with 584/911 (912=Y on the last). No working order: one
        report with OrderID NONE, 39=8, 911=0, 912=Y (the engine requires 39, 54 and 55)."""
        now = self._clock()
        with self._lock:
            orders = self.working()

            def extra(i: int) -> dict[int, str]:
                return {584: request_id, 911: str(len(orders)), 912: "Y" if i == len(orders) else "N"}

            if not orders:
                blank = VenueOrder(UNKNOWN, "", [], "", "[N/A]", "", "", "", ZERO, None, None, status=REJECTED)
                reports = [self._report(blank, STATUS, now, text="no working orders", extra=extra(0))]
            else:
                reports = [self._report(o, STATUS, now, extra=extra(i)) for i, o in enumerate(orders, start=1)]
            self._save()
            return reports

    def sweep(self, markets: Callable[[str], Market | None]) -> list[Report]:
        """Expire DAY orders past the close and evaluate every resting order once."""
        now = self._clock()
        reports: list[Report] = []
        with self._lock:
            for order in self.working():
                before = (self._seq, order.triggered)
                if order.expires_at is not None and now >= order.expires_at:
                    reports.append(self._finish(order, EXPIRED, now, "DAY order expired"))
                else:
                    reports += self._work(order, markets(order.symbol), now)
                if (self._seq, order.triggered) != before:
                    self._save()
        return reports

    def cancel_unsolicited(self, cl_ord_id: str, text: str = "canceled by the venue") -> list[Report]:
        """Cancel a working order on the venue's own initiative (150=4 under its working ClOrdID)."""
        now = self._clock()
        with self._lock:
            order = self.find(cl_ord_id)
            if order is None or order.status not in WORKING:
                return []
            report = self._finish(order, CANCELED, now, text)
            self._save()
            return [report]


_STATUS = {NEW: "new", PARTIAL: "partially filled", FILLED: "filled", CANCELED: "canceled"}
_STATUS |= {REJECTED: "rejected", EXPIRED: "expired"}
_SHARED = "order_id cl_ord_id account symbol side order_type time_in_force quantity limit_price stop_price"
_SHARED += " cumulative_quantity leaves_quantity average_price"
_DECIMALS = "quantity limit_price stop_price cumulative_quantity leaves_quantity notional commission"


def _dump(order: VenueOrder) -> dict[str, Any]:
    raw = asdict(order)
    for key in _DECIMALS.split():
        raw[key] = None if raw[key] is None else str(raw[key])
    raw["expires_at"] = order.expires_at.isoformat() if order.expires_at else None
    return raw


def _undump(raw: dict[str, Any]) -> VenueOrder:
    values = dict(raw)
    for key in _DECIMALS.split():
        values[key] = None if values[key] is None else Decimal(values[key])
    values["expires_at"] = datetime.fromisoformat(values["expires_at"]) if values["expires_at"] else None
    return VenueOrder(**values)
