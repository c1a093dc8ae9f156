"""A seeded random walk of the reference prices, for demonstrations (off unless enabled).

Step ``n`` under seed ``s`` moves each instrument by a whole number of ticks drawn from
``random.Random(f"{s}:{n}:{symbol}")``: uniformly between minus and plus the largest move
(``random_walk_max_bps`` of the price, at least one tick), never below one tick. The same seed
from the same prices gives the same path, whatever order instruments are processed in. The
step counter is stored per seed, so successive scheduled runs continue the path. Prices are
set through ``apps.instruments.services.reference_price_set`` (source ``paper-walk``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.utils import timezone

from apps.core.actors import system_actor
from apps.instruments.models import Instrument
from apps.instruments.services import reference_price_set
from plugins.paper.config import PaperSettings
from plugins.paper.models import PaperWalkState
from plugins.paper.simulator import BPS

SOURCE = "paper-walk"


@dataclass(frozen=True)
class Move:
    symbol: str
    step: int
    old: Decimal
    new: Decimal


def next_price(*, seed: int, step: int, symbol: str, price: Decimal, tick: Decimal, max_bps: Decimal) -> Decimal:
    """The price after step ``step``: a multiple of ``tick``, at least one tick."""
    max_ticks = max(int((price * max_bps / BPS / tick).to_integral_value(rounding=ROUND_FLOOR)), 1)
    rng = random.Random(f"{seed}:{step}:{symbol}")  # noqa: S311 - a reproducible simulation, not security
    delta = rng.randint(-max_ticks, max_ticks)
    ticks = (price / tick).to_integral_value(rounding=ROUND_FLOOR) + delta
    return max(ticks, Decimal(1)) * tick


def _take_step(seed: int) -> int:
    with transaction.atomic(durable=True):
        state, _ = PaperWalkState.objects.select_for_update().get_or_create(seed=seed)
        state.step += 1
        state.save(update_fields=["step"])
        return state.step


def _instruments(symbols: tuple[str, ...]) -> list[Instrument]:
    """Active instruments that have a reference price (the walk needs somewhere to start)."""
    queryset = Instrument.objects.select_related("reference_price").filter(active=True, reference_price__isnull=False)
    if symbols:
        queryset = queryset.filter(symbol__in=symbols)
    return list(queryset.order_by("symbol"))


def random_walk(*, settings: PaperSettings, steps: int = 1, now: datetime | None = None) -> list[Move]:
    """Take ``steps`` steps of the walk under ``settings.seed``; answer every move made."""
    actor = system_actor()
    moves: list[Move] = []
    for _ in range(steps):
        step = _take_step(settings.seed)
        when = now or timezone.now()
        for instrument in _instruments(settings.random_walk_symbols):
            old = instrument.reference_price.price
            new = next_price(
                seed=settings.seed,
                step=step,
                symbol=instrument.symbol,
                price=old,
                tick=instrument.tick_size,
                max_bps=settings.random_walk_max_bps,
            )
            reference_price_set(actor=actor, instrument=instrument, price=new, as_of=when, source=SOURCE)
            moves.append(Move(symbol=instrument.symbol, step=step, old=old, new=new))
    return moves
