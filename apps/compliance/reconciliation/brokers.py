"""Reconciliation with the brokers: each enabled broker's positions and open orders against ours.

Two steps, so that no broker call ever happens inside a database transaction or under a lock:

1. :func:`broker_view_take` asks the adapter (``open_orders()``, then ``positions()``) and keeps
   the answer with the moment it was asked. Whatever goes wrong there (the broker is down, the
   plugin raises or answers nonsense) makes the view *unavailable*; it never fails the run.
2. :func:`broker_differences_find` reads our side through ``apps.brokers.selectors`` (one query
   for positions, one for orders, whatever the size of the books) and compares.

What is compared, per broker, and only over what was routed to it:

- **Positions.** The broker reports the net filled quantity of the orders it executed, so it is
  compared with what the broker can know: the fills we booked from it, netted per (account,
  symbol) (buys less sells), over the accounts that route to it. Units from elsewhere (a
  transfer, another broker before a route changed) are not the broker's to know and are not
  compared; the whole position is shown alongside in the break. A position the broker reports
  for an account that routes to another broker is not compared (counted as routed elsewhere);
  one for an account number we do not have is a break.
- **Open orders.** An order open here whose submit has left our outbox but that the broker does
  not list; an order the broker lists that is done here, unknown here or routed to another
  broker; an order open on both sides whose quantity, or executed quantity, differs (the
  broker's cumulative quantity against our booked ``filled_quantity``, and against the
  ``venue_cumulative_quantity`` the venue reported before: a venue never executes less than it
  already reported).

Not breaks: orders still in our outbox (their submit pending, in flight, unknown or withdrawn:
the venue cannot know them yet), and anything whose last change (order event, fill, position
update) falls within ``settings.RECONCILIATION_BROKER_GRACE_SECONDS`` before the broker was
asked: its reports may still be on their way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.brokers import registry
from apps.brokers.interface import BrokerOrder, BrokerPosition
from apps.brokers.selectors import BrokerHolding, BrokerOrderState, broker_holding_list, broker_order_state_list
from apps.compliance.reconciliation.common import (
    BROKER_ORDER_NOT_OPEN_HERE,
    BROKER_UNAVAILABLE,
    ORDER_NOT_OPEN_AT_BROKER,
    ORDER_VS_BROKER,
    POSITION_VS_BROKER,
    Difference,
    plain,
)

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass(frozen=True)
class BrokerView:
    """What one broker answered, and when it was asked (``error``: it could not be asked)."""

    broker: str
    asked_at: datetime
    positions: tuple[BrokerPosition, ...] = ()
    open_orders: tuple[BrokerOrder, ...] = ()
    error: str = ""


def _quantity(value: object, what: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} is {value!r}, not a finite Decimal")


def _check_answer(positions: tuple[BrokerPosition, ...], orders: tuple[BrokerOrder, ...]) -> None:
    """Refuse an answer that cannot be compared (a float, NaN, a missing account number...):
    comparing it would record breaks that are the plugin's bug, not differences."""
    for position in positions:
        if not isinstance(position, BrokerPosition) or not all(
            isinstance(text, str) and text and "\x00" not in text for text in (position.account_number, position.symbol)
        ):
            raise ValueError(f"not a position with an account number and a symbol: {position!r}")
        _quantity(position.quantity, f"the quantity of {position.account_number} {position.symbol}")
    for order in orders:
        if not isinstance(order, BrokerOrder) or type(order.order_id) is not int or not 0 < order.order_id < 2**63:
            raise ValueError(f"not an open order with one of our order ids: {order!r}")
        for name in ("quantity", "cumulative_quantity", "leaves_quantity"):
            _quantity(getattr(order, name), f"the {name} of order {order.order_id}")


def broker_view_take(broker: str) -> BrokerView:
    """Ask one broker for its open orders and positions. Never raises: a failure (the broker is
    down, the plugin raises or answers nonsense) is returned as an unavailable view and logged.
    Call it outside any transaction: a venue is a network call."""
    asked_at = timezone.now()
    try:
        adapter = registry.get_adapter(broker)
        open_orders = tuple(adapter.open_orders())
        positions = tuple(adapter.positions())
        _check_answer(positions, open_orders)
    except Exception as exc:  # any failure of a plugin means "could not reconcile", never a failed run
        logger.warning("reconciliation: the broker %s could not be asked: %s", broker, exc, exc_info=True)
        return BrokerView(broker=broker, asked_at=asked_at, error=f"{type(exc).__name__}: {exc}"[:500])
    return BrokerView(broker=broker, asked_at=asked_at, positions=positions, open_orders=open_orders)


@dataclass
class BrokerCheck:
    """What the comparison with one broker found, and what it left out (and why)."""

    broker: str
    asked_at: datetime
    error: str = ""
    positions_compared: int = 0
    orders_compared: int = 0
    not_at_venue: int = 0  # open here, still in our outbox
    within_grace: int = 0  # changed within the grace window
    routed_elsewhere: int = 0  # broker positions of accounts that route to another broker
    differences: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "positions_compared": self.positions_compared,
            "orders_compared": self.orders_compared,
            "not_at_venue": self.not_at_venue,
            "within_grace": self.within_grace,
            "routed_elsewhere": self.routed_elsewhere,
            "differences": len(self.differences),
        }


def broker_differences_find(view: BrokerView, *, grace: timedelta) -> BrokerCheck:
    """Compare one broker's view with our books (two queries; see the module's doc)."""
    check = BrokerCheck(broker=view.broker, asked_at=view.asked_at, error=view.error)
    if view.error:
        check.differences.append(_unavailable(view))
        return check
    cutoff = view.asked_at - grace
    _compare_positions(view, cutoff, check)
    _compare_orders(view, cutoff, check)
    return check


def _unavailable(view: BrokerView) -> Difference:
    key = f"{view.broker}:unavailable"
    return Difference(
        kind=BROKER_UNAVAILABLE,
        key=key,
        account_id=None,
        broker=view.broker,
        summary=(
            f"Broker {view.broker}: could not be reconciled ({view.error}); "
            "its positions and open orders were not compared"
        ),
        details={"key": key, "broker": view.broker, "error": view.error, "asked_at": view.asked_at},
    )


# --- positions --------------------------------------------------------------------------


def _compare_positions(view: BrokerView, cutoff: datetime, check: BrokerCheck) -> None:
    theirs: dict[tuple[str, str], Decimal] = {}
    for position in view.positions:
        pair = (position.account_number, position.symbol)
        theirs[pair] = theirs.get(pair, ZERO) + position.quantity
    ours = {(h.account_number, h.symbol): h for h in broker_holding_list(broker=view.broker, asked=theirs.keys())}
    for pair in sorted(set(ours) | set(theirs)):
        holding = ours.get(pair)
        if holding is not None and holding.routes_to not in (None, view.broker):
            check.routed_elsewhere += 1
            continue
        check.positions_compared += 1
        their_quantity = theirs.get(pair, ZERO)
        our_quantity = holding.broker_quantity if holding is not None else ZERO
        if our_quantity == their_quantity:
            continue
        if holding is not None and holding.changed_at is not None and holding.changed_at >= cutoff:
            check.within_grace += 1
            continue
        check.differences.append(_position_difference(view, pair, holding, our_quantity, their_quantity))


def _position_difference(
    view: BrokerView, pair: tuple[str, str], holding: BrokerHolding | None, ours: Decimal, theirs: Decimal
) -> Difference:
    number, symbol = pair
    key = f"{view.broker}:position:{number}:{symbol}"
    known = holding is not None and holding.account_id is not None
    if known:
        summary = (
            f"Broker {view.broker}: account {number} {symbol}: its fills from this broker net {plain(ours)} "
            f"but the broker reports {plain(theirs)} (difference {plain(ours - theirs)})"
        )
    else:
        summary = f"Broker {view.broker}: reports {plain(theirs)} {symbol} for account {number}, which is not ours"
    return Difference(
        kind=POSITION_VS_BROKER,
        key=key,
        account_id=holding.account_id if holding is not None else None,
        broker=view.broker,
        summary=summary,
        details={
            "key": key,
            "broker": view.broker,
            "account_id": holding.account_id if holding is not None else None,
            "account_number": number,
            "instrument_id": holding.instrument_id if holding is not None else None,
            "symbol": symbol,
            "ours": {
                "quantity": plain(ours),
                "position_quantity": plain(holding.position_quantity if holding is not None else ZERO),
                "account_known": known,
                "changed_at": holding.changed_at if holding is not None else None,
            },
            "theirs": {"quantity": plain(theirs)},
            "difference": plain(ours - theirs),
            "asked_at": view.asked_at,
        },
    )


# --- open orders --------------------------------------------------------------------------


def _recent(order: BrokerOrderState, cutoff: datetime) -> bool:
    return order.changed_at >= cutoff


def _fields_differing(ours: BrokerOrderState, theirs: BrokerOrder) -> list[str]:
    fields = []
    if ours.quantity != theirs.quantity:
        fields.append("quantity")
    if ours.filled_quantity != theirs.cumulative_quantity:
        fields.append("cumulative_quantity")
    if ours.venue_cumulative_quantity > theirs.cumulative_quantity:
        fields.append("venue_cumulative_quantity")
    return fields


def _compare_orders(view: BrokerView, cutoff: datetime, check: BrokerCheck) -> None:
    listed = {order.order_id: order for order in view.open_orders}
    ours = {o.order_id: o for o in broker_order_state_list(broker=view.broker, order_ids=listed.keys())}
    for order_id in sorted(set(ours) | set(listed)):
        mine, theirs = ours.get(order_id), listed.get(order_id)
        if mine is not None and mine.broker == view.broker and mine.open and not mine.at_venue and theirs is None:
            check.not_at_venue += 1
            continue
        check.orders_compared += 1
        if theirs is None:
            assert mine is not None  # the selector returns only our open orders at this broker, and the listed
            if _recent(mine, cutoff):
                check.within_grace += 1
                continue
            check.differences.append(
                _order_difference(view, ORDER_NOT_OPEN_AT_BROKER, order_id, mine=mine, theirs=None, fields=[])
            )
        elif mine is None or mine.broker != view.broker or not mine.open:
            if mine is not None and mine.broker == view.broker and _recent(mine, cutoff):
                check.within_grace += 1
                continue
            check.differences.append(
                _order_difference(view, BROKER_ORDER_NOT_OPEN_HERE, order_id, mine=mine, theirs=theirs, fields=[])
            )
        elif fields := _fields_differing(mine, theirs):
            if _recent(mine, cutoff):
                check.within_grace += 1
                continue
            check.differences.append(
                _order_difference(view, ORDER_VS_BROKER, order_id, mine=mine, theirs=theirs, fields=fields)
            )


def _order_summary(
    broker: str,
    kind: str,
    order_id: int,
    *,
    mine: BrokerOrderState | None,
    theirs: BrokerOrder | None,
    fields: list[str],
) -> str:
    where = f"order {order_id}" + (f" (account {mine.account_number} {mine.symbol})" if mine is not None else "")
    if kind == ORDER_NOT_OPEN_AT_BROKER:
        assert mine is not None
        return f"Broker {broker}: {where} is {mine.status} here but the broker does not list it as open"
    assert theirs is not None
    if kind == BROKER_ORDER_NOT_OPEN_HERE:
        if mine is None:
            state = "which is not an order here"
        elif mine.broker != broker:
            state = f"which routes to {mine.broker or 'no broker'} here"
        else:
            state = f"which is {mine.status} here"
        return (
            f"Broker {broker}: lists {where} as open ({plain(theirs.cumulative_quantity)} of "
            f"{plain(theirs.quantity)} executed), {state}"
        )
    assert mine is not None
    parts = []
    if "quantity" in fields:
        parts.append(f"quantity {plain(mine.quantity)} here, {plain(theirs.quantity)} at the broker")
    if "cumulative_quantity" in fields or "venue_cumulative_quantity" in fields:
        parts.append(
            f"executed {plain(mine.filled_quantity)} booked here (the venue reported "
            f"{plain(mine.venue_cumulative_quantity)}), {plain(theirs.cumulative_quantity)} at the broker"
        )
    return f"Broker {broker}: {where} differs: " + "; ".join(parts)


def _order_difference(
    view: BrokerView,
    kind: str,
    order_id: int,
    *,
    mine: BrokerOrderState | None,
    theirs: BrokerOrder | None,
    fields: list[str],
) -> Difference:
    key = f"{view.broker}:order:{order_id}"
    account_id = mine.account_id if mine is not None else None
    return Difference(
        kind=kind,
        key=key,
        account_id=account_id,
        broker=view.broker,
        summary=_order_summary(view.broker, kind, order_id, mine=mine, theirs=theirs, fields=fields),
        details={
            "key": key,
            "broker": view.broker,
            "order_id": order_id,
            "account_id": account_id,
            "account_number": mine.account_number if mine is not None else None,
            "symbol": mine.symbol if mine is not None else None,
            "fields": fields,
            "ours": None
            if mine is None
            else {
                "broker": mine.broker,
                "status": mine.status,
                "quantity": plain(mine.quantity),
                "filled_quantity": plain(mine.filled_quantity),
                "venue_cumulative_quantity": plain(mine.venue_cumulative_quantity),
                "broker_order_id": mine.broker_order_id,
                "submit_status": mine.submit_status,
                "changed_at": mine.changed_at,
            },
            "theirs": None
            if theirs is None
            else {
                "status": theirs.status,
                "quantity": plain(theirs.quantity),
                "cumulative_quantity": plain(theirs.cumulative_quantity),
                "leaves_quantity": plain(theirs.leaves_quantity),
                "broker_order_id": theirs.broker_order_id,
                "request_id": theirs.request_id,
            },
            "asked_at": view.asked_at,
        },
    )
