"""Market data for the paper venue: the instruments' reference prices (read through selectors)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from apps.instruments.models import Instrument
from apps.instruments.selectors import instrument_get, instruments_by_symbol
from plugins.paper.config import PaperSettings
from plugins.paper.simulator import Market


def market_get(symbol: str, *, now: datetime, settings: PaperSettings) -> Market | None:
    """The symbol's market now, or None for an unknown symbol. A reference price older than
    ``max_price_age_seconds`` counts as no price (``stale``)."""
    return _market(instrument_get(symbol), now=now, settings=settings)


def _market(instrument: Instrument | None, *, now: datetime, settings: PaperSettings) -> Market | None:
    if instrument is None:
        return None
    reference = getattr(instrument, "reference_price", None)  # a missing one-to-one raises AttributeError
    price, as_of, stale = None, None, False
    if reference is not None:
        price, as_of = reference.price, reference.as_of
        max_age = settings.max_price_age_seconds
        if max_age is not None and now - as_of > timedelta(seconds=max_age):
            price, stale = None, True
    return Market(
        symbol=instrument.symbol,
        tick_size=instrument.tick_size,
        lot_size=instrument.lot_size,
        active=instrument.active,
        price=price,
        as_of=as_of,
        stale=stale,
    )


class MarketCache:
    """Markets read once per symbol within one call (a poll touches many orders)."""

    def __init__(self, *, now: datetime, settings: PaperSettings) -> None:
        self._now = now
        self._settings = settings
        self._markets: dict[str, Market | None] = {}

    def load(self, symbols: Iterable[str]) -> None:
        """Read the markets of ``symbols`` in one query (a batch names many)."""
        wanted = {s for s in symbols if s not in self._markets}
        found = instruments_by_symbol(wanted)
        for symbol in wanted:
            self._markets[symbol] = _market(found.get(symbol), now=self._now, settings=self._settings)

    def get(self, symbol: str) -> Market | None:
        if symbol not in self._markets:
            self._markets[symbol] = market_get(symbol, now=self._now, settings=self._settings)
        return self._markets[symbol]
