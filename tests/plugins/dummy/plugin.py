"""The dummy broker: the smallest plugin that honours the adapter contract, kept in memory.

It is the executable spec of what a plugin must do (see docs/plugins.md): every supported
order is acknowledged and filled at once, in full, at the limit price if it has one, else at
the fixed ``price``; anything unsupported is REJECTED; cancels and replaces are answered
with CANCEL_REJECTED / REPLACE_REJECTED (nothing ever rests); ``submit`` is idempotent by
order id; every report is kept for ``order_status``, and handed out again by ``poll`` until it
is acknowledged; nothing ever rests, so ``open_orders`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from apps.brokers.interface import (
    BrokerOrder,
    BrokerPosition,
    Capabilities,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    PluginSpec,
    ReplaceRequest,
)


class DummyBroker:
    name = "dummy"
    capabilities = Capabilities(
        order_types=frozenset({"market", "limit"}),
        time_in_force=frozenset({"day", "gtc", "ioc", "fok"}),
        supports_replace=False,
    )

    def __init__(self, settings: Mapping[str, object]) -> None:
        self.price = Decimal(str(settings["price"]))
        self.fee = Decimal(str(settings["fee"]))
        self._reports: dict[int, list[ExecutionReport]] = {}
        self._orders: dict[int, OrderTicket] = {}
        self._unacknowledged: dict[str, ExecutionReport] = {}

    def _report(self, order_id: int, exec_type: ExecType, request_id: str = "", **fields: object) -> ExecutionReport:
        history = self._reports.setdefault(order_id, [])
        known = order_id in self._orders
        report = ExecutionReport(
            exec_id=f"DUMMY-{order_id}-{len(history) + 1}" if known else f"DUMMY-{order_id}-X{len(history) + 1}",
            order_id=order_id,
            exec_type=exec_type,
            broker_order_id=f"DUMMY-{order_id}" if known else "",
            broker_time=datetime.now(UTC),
            request_id=request_id or (self._orders[order_id].request_id if known else ""),
            **fields,  # type: ignore[arg-type]
        )
        history.append(report)
        self._unacknowledged[report.exec_id] = report
        return report

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        if ticket.order_id in self._orders:
            return list(self._reports[ticket.order_id])
        self._orders[ticket.order_id] = ticket
        if ticket.order_type not in self.capabilities.order_types:
            return [self._report(ticket.order_id, ExecType.REJECTED, text=f"unsupported {ticket.order_type}")]
        if ticket.time_in_force not in self.capabilities.time_in_force:
            return [self._report(ticket.order_id, ExecType.REJECTED, text=f"unsupported {ticket.time_in_force}")]
        quantity = ticket.quantity
        price = ticket.limit_price if ticket.limit_price is not None else self.price
        return [
            self._report(ticket.order_id, ExecType.NEW, leaves_quantity=quantity),
            self._report(
                ticket.order_id,
                ExecType.FILL,
                last_quantity=quantity,
                last_price=price,
                fee=self.fee,
                cumulative_quantity=quantity,
            ),
        ]

    def _done(self, order_id: int) -> dict[str, object]:
        history = self._reports.get(order_id, [])
        return {"cumulative_quantity": history[-1].cumulative_quantity} if history else {}

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        text = "the order is done" if ticket.order_id in self._orders else "unknown order"
        return [
            self._report(
                ticket.order_id,
                ExecType.CANCEL_REJECTED,
                request_id=ticket.request_id,
                text=text,
                **self._done(ticket.order_id),
            )
        ]

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        return [
            self._report(
                ticket.order_id,
                ExecType.REPLACE_REJECTED,
                request_id=ticket.request_id,
                text="replace is not supported",
                **self._done(ticket.order_id),
            )
        ]

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        return list(self._reports.get(ticket.order_id, []))

    def poll(self) -> Sequence[ExecutionReport]:
        return list(self._unacknowledged.values())

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        for exec_id in exec_ids:
            self._unacknowledged.pop(exec_id, None)

    def open_orders(self) -> Sequence[BrokerOrder]:
        return []  # everything fills at once

    def positions(self) -> Sequence[BrokerPosition]:
        net: dict[tuple[str, str], Decimal] = {}
        for order_id, ticket in self._orders.items():
            filled = sum((r.last_quantity for r in self._reports[order_id] if r.exec_type == ExecType.FILL), Decimal(0))
            key = (ticket.account_number, ticket.symbol)
            net[key] = net.get(key, Decimal(0)) + (filled if ticket.side == "buy" else -filled)
        return [BrokerPosition(a, s, q) for (a, s), q in sorted(net.items()) if q]

    def health(self) -> Health:
        return Health(ok=True, detail="dummy", checked_at=datetime.now(UTC))


spec = PluginSpec(
    name="dummy",
    factory=DummyBroker,
    description="In-memory: fills everything at once at a fixed price (the contract's executable spec).",
    default_settings={"price": "100.00", "fee": "1.00"},
)
