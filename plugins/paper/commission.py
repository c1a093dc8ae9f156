"""Commission: per share, with a minimum per order, charged fill by fill.

The order's commission after ``n`` shares have filled is ``max(per_share * n, minimum)``,
rounded half up to ``quantum``; each fill is charged the difference, so an order's fees sum
to exactly what one fill of its whole quantity would have cost, however it was sliced (the
first fill pays at least the minimum, later small fills may pay nothing).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from plugins.paper.config import PaperSettings


def commission_for(filled: Decimal, settings: PaperSettings) -> Decimal:
    """The commission of an order of which ``filled`` has executed (zero when nothing has)."""
    if filled <= 0:
        return Decimal(0).quantize(settings.commission_quantum)
    raw = max(filled * settings.commission_per_share, settings.commission_minimum)
    return raw.quantize(settings.commission_quantum, rounding=ROUND_HALF_UP)


def fill_fee(*, filled_before: Decimal, quantity: Decimal, settings: PaperSettings) -> Decimal:
    """The fee of one fill of ``quantity`` after ``filled_before`` had executed."""
    return commission_for(filled_before + quantity, settings) - commission_for(filled_before, settings)
