"""Shape and instrument checks of an order request, before any lock: a bad request is a
clear 400-class error and nothing is stored."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.core.decimals import check_scale, to_decimal
from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument
from apps.orders.errors import InvalidOrder
from apps.orders.models import OrderType, Side, TimeInForce

LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


@dataclass(frozen=True)
class Terms:
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str

    def fingerprint(self, symbol: str) -> str:
        parts = [
            symbol,
            self.side,
            self.type,
            f"{self.quantity:f}",
            _s(self.limit_price),
            _s(self.stop_price),
            self.time_in_force,
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _s(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = check_scale(to_decimal(value, field=field), scale=8, field=field)
    except ApplicationError as exc:
        raise InvalidOrder(exc.detail, field=field) from None
    if number <= 0:
        raise InvalidOrder(f"{field} must be positive.", field=field)
    return number


def client_order_id_or_new(value: Any) -> str:
    if value is None or value == "":
        return uuid.uuid4().hex
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable() or value != value.strip():
        raise InvalidOrder("client_order_id must be 1 to 64 printable characters.", field="client_order_id")
    return value


def parse_terms(
    *,
    side: Any,
    type: Any,
    quantity: Any,
    limit_price: Any,
    stop_price: Any,
    time_in_force: Any,
) -> Terms:
    if side not in Side.values:
        raise InvalidOrder(f"side must be one of {', '.join(Side.values)}.", field="side")
    if type not in OrderType.values:
        raise InvalidOrder(f"type must be one of {', '.join(OrderType.values)}.", field="type")
    if time_in_force not in TimeInForce.values:
        raise InvalidOrder(f"time_in_force must be one of {', '.join(TimeInForce.values)}.", field="time_in_force")
    qty = _decimal(quantity, "quantity")
    if type in LIMIT_TYPES:
        if limit_price is None:
            raise InvalidOrder(f"A {type} order needs a limit_price.", field="limit_price")
        limit = _decimal(limit_price, "limit_price")
    elif limit_price is not None:
        raise InvalidOrder(f"A {type} order takes no limit_price.", field="limit_price")
    else:
        limit = None
    if type in STOP_TYPES:
        if stop_price is None:
            raise InvalidOrder(f"A {type} order needs a stop_price.", field="stop_price")
        stop = _decimal(stop_price, "stop_price")
    elif stop_price is not None:
        raise InvalidOrder(f"A {type} order takes no stop_price.", field="stop_price")
    else:
        stop = None
    return Terms(side, type, qty, limit, stop, time_in_force)


def check_against_instrument(terms: Terms, instrument: Instrument) -> None:
    """Quantity a positive multiple of the lot size; prices positive multiples of the tick size."""
    if terms.quantity % instrument.lot_size != 0:
        raise InvalidOrder(
            f"quantity {terms.quantity:f} is not a multiple of the lot size {instrument.lot_size.normalize():f}.",
            field="quantity",
        )
    for field, price in (("limit_price", terms.limit_price), ("stop_price", terms.stop_price)):
        if price is not None and price % instrument.tick_size != 0:
            raise InvalidOrder(
                f"{field} {price:f} is not a multiple of the tick size {instrument.tick_size.normalize():f}.",
                field=field,
            )
