"""Instrument reads."""

from __future__ import annotations

from collections.abc import Iterable

from apps.instruments.models import Instrument


def instrument_get(symbol: str) -> Instrument | None:
    return Instrument.objects.select_related("reference_price").filter(symbol=symbol).first()


def instruments_by_symbol(symbols: Iterable[str]) -> dict[str, Instrument]:
    """The instruments (with their reference prices) of ``symbols`` in one query; unknown
    symbols are absent."""
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    return {i.symbol: i for i in Instrument.objects.select_related("reference_price").filter(symbol__in=wanted)}
