"""The paper broker adapter: the BrokerAdapter protocol over the paper venue's own tables.

Each call is one durable transaction: the venue's state never depends on the caller's
transaction (a real venue does not roll back with us), and calling it while holding our
own row locks, which the conventions forbid for any broker, fails loudly here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import DatabaseError, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.brokers.interface import (
    BrokerOrder,
    BrokerPosition,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    ReplaceRequest,
    SubmitAnswer,
)
from apps.core.rows import update_rows
from plugins.paper import book
from plugins.paper.config import PaperSettings
from plugins.paper.market import MarketCache, market_get
from plugins.paper.models import WORKING, PaperOrder, PaperReport, PaperStatus
from plugins.paper.simulator import BUY, CAPABILITIES, Market, rejection, replace_rejection, storable

_ORDER_FIELDS = [f.name for f in PaperOrder._meta.concrete_fields if not f.primary_key]


class PaperBroker:
    """Paper trading against the instruments' reference prices. ``clock`` is for tests."""

    name = "paper"
    capabilities = CAPABILITIES

    def __init__(self, settings: PaperSettings | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings or PaperSettings()
        self._clock = clock or timezone.now

    def _now(self) -> datetime:
        now = self._clock()
        assert now.tzinfo is not None, "the paper broker's clock must be timezone-aware"
        return now

    def _locked(self, order_id: int) -> PaperOrder | None:
        return PaperOrder.objects.select_for_update(no_key=True).filter(order_id=order_id).first()

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        """Accept or reject a new order. Idempotent by ``order_id``: a resubmitted ticket
        answers every report the order has produced so far, and never opens a second order."""
        now = self._now()
        with transaction.atomic(durable=True):
            PaperOrder.objects.bulk_create([book.order_row(ticket, now)], ignore_conflicts=True)
            order = self._locked(ticket.order_id)
            assert order is not None
            if order.exec_seq > 0:
                return book.reports_for(order.order_id)
            market = market_get(order.symbol, now=now, settings=self.settings)
            reason = rejection(ticket, market, self.capabilities)
            if reason is not None or market is None:
                rows = [book.finish(order, PaperStatus.REJECTED, ExecType.REJECTED, now, reason or "rejected")]
            else:
                rows = book.accept(order, market, now, self.settings)
            order.save()
        return [book.to_report(row) for row in rows]

    def submit_many(self, tickets: Sequence[OrderTicket]) -> Sequence[SubmitAnswer]:
        """``submit`` for many tickets in one transaction: the rows inserted and locked in one
        statement each, every report stored in one, the orders updated in one. Same answers,
        ticket by ticket, as ``submit`` (a ticket seen before answers what its order produced)."""
        now = self._now()
        answers: dict[int, list[ExecutionReport]] = {}
        with transaction.atomic(durable=True):
            PaperOrder.objects.bulk_create([book.order_row(t, now) for t in tickets], ignore_conflicts=True)
            orders = {
                o.order_id: o
                for o in PaperOrder.objects.select_for_update(no_key=True)
                .filter(order_id__in=sorted({t.order_id for t in tickets}))
                .order_by("order_id")
            }
            markets = MarketCache(now=now, settings=self.settings)
            markets.load(order.symbol for order in orders.values())
            fresh: dict[int, list[PaperReport]] = {}
            with book.reports_deferred():
                for ticket in tickets:
                    order = orders[ticket.order_id]
                    if ticket.order_id in fresh or ticket.order_id in answers:
                        continue
                    if order.exec_seq > 0:
                        answers[ticket.order_id] = book.reports_for(order.order_id)
                        continue
                    market = markets.get(order.symbol)
                    reason = rejection(ticket, market, self.capabilities)
                    if reason is not None or market is None:
                        fresh[order.order_id] = [
                            book.finish(order, PaperStatus.REJECTED, ExecType.REJECTED, now, reason or "rejected")
                        ]
                    else:
                        fresh[order.order_id] = book.accept(order, market, now, self.settings)
            update_rows([orders[i] for i in fresh], _ORDER_FIELDS)
        for order_id, rows in fresh.items():
            answers[order_id] = [book.to_report(row) for row in rows]
        return [answers[t.order_id] for t in tickets]

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        """Cancel a working order (CANCELED); anything else is answered with CANCEL_REJECTED."""
        now = self._now()
        with transaction.atomic(durable=True):
            order = self._locked(ticket.order_id)
            if order is None:
                row = book.emit_unknown(
                    ticket.order_id, ExecType.CANCEL_REJECTED, now, "unknown order", request_id=ticket.request_id
                )
                return [book.to_report(row)]
            if order.status not in WORKING:
                text = f"the order is {order.status}"
                row = book.emit(order, ExecType.CANCEL_REJECTED, now, text=text, request_id=ticket.request_id)
            else:
                row = book.finish(
                    order,
                    PaperStatus.CANCELED,
                    ExecType.CANCELED,
                    now,
                    "canceled on request",
                    request_id=ticket.request_id,
                )
            order.save()
        return [book.to_report(row)]

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        """Replace a working order's quantity and prices (a price left None is kept). The new
        terms are evaluated at once, so a replaced limit that now crosses fills in the same call."""
        now = self._now()
        with transaction.atomic(durable=True):
            order = self._locked(ticket.order_id)
            if order is None:
                row = book.emit_unknown(
                    ticket.order_id, ExecType.REPLACE_REJECTED, now, "unknown order", request_id=ticket.request_id
                )
                return [book.to_report(row)]
            market = market_get(order.symbol, now=now, settings=self.settings)
            reason = (
                f"the order is {order.status}"
                if order.status not in WORKING
                else replace_rejection(book.terms_of(order), request, market)
            )
            if reason is not None:
                rows = [book.emit(order, ExecType.REPLACE_REJECTED, now, text=reason, request_id=ticket.request_id)]
            else:
                rows = self._replace(order, request, market, now, ticket.request_id)
            order.save()
        return [book.to_report(row) for row in rows]

    def _replace(
        self, order: PaperOrder, request: ReplaceRequest, market: Market | None, now: datetime, request_id: str
    ) -> list[PaperReport]:
        quantity = storable(request.quantity)
        assert quantity is not None  # checked by replace_rejection
        order.quantity = quantity
        if request.limit_price is not None:
            order.limit_price = request.limit_price
        if request.stop_price is not None:
            order.stop_price = request.stop_price
        order.leaves_quantity = order.quantity - order.cumulative_quantity
        order.request_id = request_id[:64]
        if order.leaves_quantity == 0:
            order.status = PaperStatus.FILLED  # replaced down to what had filled: done
        replaced = book.emit(
            order,
            ExecType.REPLACED,
            now,
            quantity=order.quantity,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
        )
        rows = [replaced]
        if order.status in WORKING:
            rows += book.work(order, market, now, self.settings)
        return rows

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        """Every report produced for this order id so far, oldest first (none: never received)."""
        return book.reports_for(ticket.order_id)

    def poll(self) -> Sequence[ExecutionReport]:
        """Expire DAY orders past the close and evaluate every resting order against the current
        reference prices, in order id order. Orders locked by a concurrent call are skipped (the
        next poll sees them). Returns every report not acknowledged yet, oldest first: those
        this poll produced and those handed out before (by any call) that the host has not
        acknowledged."""
        now = self._now()
        with transaction.atomic(durable=True):
            resting = (
                PaperOrder.objects.select_for_update(no_key=True, skip_locked=True)
                .filter(status__in=WORKING)
                .order_by("order_id")
            )
            markets = MarketCache(now=now, settings=self.settings)
            for order in resting:
                before = (order.exec_seq, order.triggered)
                if order.expires_at is not None and now >= order.expires_at:
                    book.finish(order, PaperStatus.EXPIRED, ExecType.EXPIRED, now, "DAY order expired")
                else:
                    book.work(order, markets.get(order.symbol), now, self.settings)
                if (order.exec_seq, order.triggered) != before:
                    order.save()
        return [book.to_report(row) for row in PaperReport.objects.filter(acknowledged=False).order_by("id")]

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        """The host recorded these reports: poll stops handing them out."""
        if exec_ids:
            PaperReport.objects.filter(exec_id__in=list(exec_ids), acknowledged=False).update(acknowledged=True)

    def open_orders(self) -> Sequence[BrokerOrder]:
        """Every order the venue is still working, in order id order."""
        return [
            BrokerOrder(
                order_id=o.order_id,
                broker_order_id=o.broker_order_id,
                quantity=o.quantity,
                cumulative_quantity=o.cumulative_quantity,
                leaves_quantity=o.leaves_quantity,
                status=o.status,
                request_id=o.request_id,
            )
            for o in PaperOrder.objects.filter(status__in=WORKING).order_by("order_id")
        ]

    def positions(self) -> Sequence[BrokerPosition]:
        """Net filled quantity per (account number, symbol): buys less sells; flat ones omitted."""
        net: dict[tuple[str, str], Decimal] = {}
        rows = (
            PaperOrder.objects.filter(cumulative_quantity__gt=0)
            .values("account_number", "symbol", "side")
            .annotate(filled=Sum("cumulative_quantity"))
            .order_by()
        )
        for row in rows:
            key = (row["account_number"], row["symbol"])
            signed = row["filled"] if row["side"] == BUY else -row["filled"]
            net[key] = net.get(key, Decimal(0)) + signed
        return [
            BrokerPosition(account_number=account, symbol=symbol, quantity=quantity)
            for (account, symbol), quantity in sorted(net.items())
            if quantity != 0
        ]

    def health(self) -> Health:
        now = self._now()
        try:
            working = PaperOrder.objects.filter(status__in=WORKING).count()
        except DatabaseError as exc:
            return Health(ok=False, detail=f"paper: database unavailable: {exc}", checked_at=now)
        return Health(ok=True, detail=f"paper: {working} working orders", checked_at=now)
