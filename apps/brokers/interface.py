"""The broker adapter interface: what every plugin implements, and the plain typed values
that cross the boundary. No Django models cross it: plugins never read or write order or
ledger rows; they receive tickets and return execution reports.

Learned from NautilusTrader's execution clients (commands in, typed reports out) and LEAN's
brokerage models (capabilities declared up front), in FIX 4.4 vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ExecType(StrEnum):
    """FIX 4.4 ExecType (150), the subset a back office books."""

    NEW = "new"  # the venue accepted the order
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCELED = "canceled"  # solicited, or unsolicited (IOC/FOK remainder, venue cancel)
    REPLACED = "replaced"
    REJECTED = "rejected"  # a new order refused by the venue
    EXPIRED = "expired"
    CANCEL_REJECTED = "cancel_rejected"
    REPLACE_REJECTED = "replace_rejected"


FILL_TYPES = frozenset({ExecType.PARTIAL_FILL, ExecType.FILL})


@dataclass(frozen=True)
class OrderTicket:
    """An order as a venue sees it. ``order_id`` is our id, sent as the FIX ClOrdID reference."""

    order_id: int
    client_order_id: str
    account_number: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    quantity: Decimal
    time_in_force: str  # "day" | "gtc" | "ioc" | "fok"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    broker_order_id: str = ""  # known after acknowledgement


@dataclass(frozen=True)
class ReplaceRequest:
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True)
class ExecutionReport:
    """One execution report. ``exec_id`` is unique per broker: the intake books each once.

    Quantities follow FIX: while the order works, ``cumulative_quantity + leaves_quantity``
    equals its quantity; a CANCELED, REJECTED or EXPIRED report carries ``leaves_quantity`` 0.
    """

    exec_id: str
    order_id: int
    exec_type: ExecType
    broker_order_id: str = ""
    last_quantity: Decimal = Decimal(0)
    last_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    cumulative_quantity: Decimal = Decimal(0)
    leaves_quantity: Decimal = Decimal(0)
    broker_time: datetime | None = None
    text: str = ""
    # For REPLACED: the order's new terms as the venue confirmed them.
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True)
class Capabilities:
    order_types: frozenset[str]
    time_in_force: frozenset[str]
    supports_replace: bool = True


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""
    checked_at: datetime | None = None


@dataclass(frozen=True)
class BrokerPosition:
    account_number: str
    symbol: str
    quantity: Decimal


class BrokerError(Exception):
    """The adapter could not do what was asked. ``transient`` errors are retried with backoff."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class BrokerTimeout(BrokerError):
    """No answer in time: the outcome is unknown. Resolve it with ``order_status``, never by resending."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


@runtime_checkable
class BrokerAdapter(Protocol):
    """What a broker plugin implements. Every method may raise ``BrokerError``.

    Methods return the execution reports the venue answered synchronously (possibly none);
    reports that arrive later are handed back through ``poll`` (or pushed by the plugin to
    ``apps.brokers.intake.receive``).
    """

    name: str
    capabilities: Capabilities

    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]: ...

    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]: ...

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]: ...

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        """Every report the venue has for this order so far (used to resolve a timeout)."""
        ...

    def poll(self) -> Sequence[ExecutionReport]:
        """Reports that arrived since the last poll (resting orders filled, expiries...)."""
        ...

    def positions(self) -> Sequence[BrokerPosition]:
        """The venue's view of positions, for reconciliation."""
        ...

    def health(self) -> Health: ...


@dataclass(frozen=True)
class PluginSpec:
    """What an entry point in the ``backoffice.brokers`` group returns: a name and a factory
    that builds the adapter from its settings."""

    name: str
    factory: Callable[[Mapping[str, object]], BrokerAdapter]
    description: str = ""
    default_settings: Mapping[str, object] = field(default_factory=dict)
