"""Instrument reads."""

from __future__ import annotations

from apps.instruments.models import Instrument


def instrument_get(symbol: str) -> Instrument | None:
    return Instrument.objects.select_related("reference_price").filter(symbol=symbol).first()
