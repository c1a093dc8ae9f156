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
    """An order as a venue sees it, for one request about it. ``order_id`` is our id.

    ``request_id`` is this request's own id (FIX ClOrdID 11): a new one for every submit,
    cancel and replace, so an answer can be matched to the exact request it answers.
    ``original_request_id`` (FIX OrigClOrdID 41) is the id of the request whose terms the venue
    works now (the submit, or the last confirmed replace): a cancel or replace names it.
    """

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
    request_id: str = ""
    original_request_id: str = ""


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
    ``cumulative_quantity`` is what the venue has executed when it sent the report, so a report
    tells what fills must exist even if some were not delivered yet.

    ``request_id`` (FIX ClOrdID 11) is the id of the request the report answers (a REPLACED,
    REPLACE_REJECTED, CANCELED on request or CANCEL_REJECTED names the cancel or replace it
    answers; other reports name the request whose terms the order works under).
    ``quantity`` (FIX OrderQty 38) is the order's quantity as the venue holds it when the report
    was produced; a REPLACED report also carries the confirmed prices.
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
    request_id: str = ""
    # The order's terms as the venue holds them (REPLACED: the new terms it confirmed).
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


@dataclass(frozen=True)
class BrokerOrder:
    """One order the venue is still working, as its open-orders query answers it."""

    order_id: int
    broker_order_id: str
    quantity: Decimal
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    status: str = "new"  # "new" | "partially_filled" (the venue's view)
    request_id: str = ""


class BrokerError(Exception):
    """The venue did not act on the request (it was refused or never reached the venue).
    ``transient`` errors are retried with backoff; others are dead-lettered. An adapter that
    cannot tell whether the venue acted raises ``BrokerTimeout`` instead."""

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
    ``apps.brokers.intake.receive``). Delivery is at least once: every report, whatever the
    channel, is handed out again by ``poll`` until the intake ``acknowledge``s it, which it does
    only after the report is durably recorded. The intake books each exec id once.
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
        """Reports not acknowledged yet, oldest first: those that arrived since the last poll
        (resting orders filled, expiries...) and those handed out before but not acknowledged."""
        ...

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        """The intake has durably recorded these reports: stop handing them out. Unknown ids
        are ignored; acknowledging twice is harmless."""
        ...

    def open_orders(self) -> Sequence[BrokerOrder]:
        """Every order the venue is still working (FIX OrderMassStatusRequest), for reconciliation
        and to find reports that were never delivered."""
        ...

    def positions(self) -> Sequence[BrokerPosition]:
        """The venue's view of positions, for reconciliation."""
        ...

    def health(self) -> Health: ...


SubmitAnswer = Sequence[ExecutionReport] | Exception


@runtime_checkable
class BatchSubmit(Protocol):
    """What an adapter may also implement: many new orders in one call (one round trip, one
    transaction of the venue's). Per-order semantics are kept: the answer has one entry per
    ticket, in order — the reports ``submit`` would have returned for it, or the exception it
    would have raised (``BrokerError`` refused, ``BrokerTimeout`` unknown outcome; anything else
    is treated as unknown too). If the call itself raises, every ticket's outcome is unknown.
    Adapters without it are called once per ticket."""

    def submit_many(self, tickets: Sequence[OrderTicket]) -> Sequence[SubmitAnswer]: ...


@dataclass(frozen=True)
class PluginSpec:
    """What an entry point in the ``backoffice.brokers`` group returns: a name and a factory
    that builds the adapter from its settings. ``own_relay``: the plugin's own process (a FIX
    gateway holding the session) relays this broker's instructions (``relay.relay_once(broker=…)``);
    the workers' relay loops leave them alone."""

    name: str
    factory: Callable[[Mapping[str, object]], BrokerAdapter]
    description: str = ""
    default_settings: Mapping[str, object] = field(default_factory=dict)
    own_relay: bool = False
