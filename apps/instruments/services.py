"""Instrument write services: create instruments (with their ledger asset) and set reference prices."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.core.decimals import check_scale, to_decimal
from apps.core.errors import ValidationError
from apps.instruments.models import AssetClass, Instrument, PriceObservation, ReferencePrice
from apps.instruments.signals import reference_price_changed
from apps.ledger import services as ledger_services
from apps.ledger.models import AssetKind
from apps.ledger.selectors import asset_get

if TYPE_CHECKING:
    from apps.users.models import User


def _scale_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _positive(value: Any, field: str) -> Decimal:
    number = check_scale(to_decimal(value, field=field), scale=8, field=field)
    if number <= 0:
        raise ValidationError(f"{field} must be positive.", code="invalid_amount", field=field)
    return number


def instrument_create(
    *,
    actor: User,
    symbol: str,
    name: str,
    currency: str,
    tick_size: Any,
    lot_size: Any,
    asset_class: str = AssetClass.EQUITY,
    active: bool = True,
) -> Instrument:
    """Create an instrument and the ledger asset for its units (scale from the lot size)."""
    if (
        not isinstance(symbol, str)
        or not symbol
        or len(symbol) > 32
        or not symbol.isprintable()
        or symbol != symbol.strip()
    ):
        raise ValidationError("The symbol must be 1 to 32 printable characters.", code="invalid_symbol")
    if asset_class not in AssetClass.values:
        raise ValidationError(f"Unknown asset class {asset_class!r}.", code="invalid_asset_class")
    tick = _positive(tick_size, "tick_size")
    lot = _positive(lot_size, "lot_size")
    currency_asset = asset_get(currency)
    if currency_asset.kind != AssetKind.CURRENCY:
        raise ValidationError(f"{currency!r} is not a currency.", code="unknown_asset")
    with transaction.atomic(durable=True):
        asset = ledger_services.asset_create(
            actor=actor, code=symbol, kind=AssetKind.INSTRUMENT, scale=_scale_of(lot), name=name
        )
        instrument, _ = Instrument.objects.get_or_create(
            symbol=symbol,
            defaults={
                "name": name,
                "currency": currency_asset.code,
                "tick_size": tick,
                "lot_size": lot,
                "asset_class": asset_class,
                "active": active,
                "asset": asset,
            },
        )
    return instrument


#: A reference price may be stamped this far ahead of our clock (clock skew between the source and
#: us); anything later is refused (``future_price``): it would outrank every real price until then.
PRICE_CLOCK_SKEW = timedelta(seconds=5)


def reference_price_check(
    *, instrument: Instrument, price: Any, as_of: datetime | None = None
) -> tuple[Decimal, datetime]:
    """Validate a reference price without writing: the price (positive, a multiple of the tick
    size) and its time (aware, not in the future beyond ``PRICE_CLOCK_SKEW``), as they would be
    stored. ``reference_price_set`` calls it; forms call it to show a refusal on its field."""
    value = _positive(price, "price")
    if value % instrument.tick_size != 0:
        raise ValidationError(
            f"price {value} is not a multiple of the tick size {instrument.tick_size.normalize()}.",
            code="invalid_price",
            field="price",
        )
    now = timezone.now()
    when = as_of or now
    if when.tzinfo is None:
        raise ValidationError("as_of must be timezone-aware.", code="naive_datetime", field="as_of")
    if when > now + PRICE_CLOCK_SKEW:
        raise ValidationError(
            f"as_of {when.isoformat()} is in the future (now {now.isoformat()}).", code="future_price", field="as_of"
        )
    return value, when


def reference_price_set(
    *, actor: User, instrument: Instrument, price: Any, as_of: datetime | None = None, source: str = "manual"
) -> ReferencePrice:
    """Record the instrument's latest reference price (a positive multiple of its tick size, not
    stamped in the future): the current price, an observation for the history, and the signal."""
    value, when = reference_price_check(instrument=instrument, price=price, as_of=as_of)
    with transaction.atomic(durable=True):
        ref, _ = ReferencePrice.objects.update_or_create(
            instrument=instrument, defaults={"price": value, "as_of": when, "source": source}
        )
        PriceObservation.objects.create(
            instrument=instrument, price=value, as_of=when, source=source, recorded_at=timezone.now()
        )
        reference_price_changed.send(sender=ReferencePrice, instrument=instrument, price=value)
    return ref


def instrument_update(*, actor: User, instrument: Instrument, name: str, asset_class: str, active: bool) -> Instrument:
    """Change what may change on an instrument: its name, asset class and whether it trades.
    (Symbol, currency, tick and lot size are fixed at creation: orders and the ledger rely on them.)"""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ValidationError("The name must be 1 to 128 characters.", code="invalid_name", field="name")
    if asset_class not in AssetClass.values:
        raise ValidationError(f"Unknown asset class {asset_class!r}.", code="invalid_asset_class", field="asset_class")
    with transaction.atomic(durable=True):
        row = Instrument.objects.select_for_update(no_key=True).get(pk=instrument.pk)
        row.name, row.asset_class, row.active = name, asset_class, bool(active)
        row.save(update_fields=["name", "asset_class", "active", "updated_at"])
    return row
