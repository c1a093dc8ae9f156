"""Decimals for people: ``{% load decimals %}``.

- ``{{ value|plain }}``: without trailing zeros and never in scientific notation (``100``,
  ``0.5``, ``0.00000001``; ``1E+2`` is ``100``).
- ``{{ price|price:instrument }}``: at least as many decimals as the instrument's tick size has
  (tick 0.01: ``100.00``, ``99.50``), more only where the value has them (an average price).
- ``{{ quantity|quantity:instrument }}``: the same with the lot size (lot 1: ``10``; lot 0.001:
  ``1.500``).

The instrument is any object with ``tick_size`` / ``lot_size`` (core does not know the
instruments app), or the step itself (a Decimal or a string). Without one, ``price`` and
``quantity`` print like ``plain``. None prints as nothing; what is not a number prints as given.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            return None
    return number if number.is_finite() else None


def scale_of(step: Any) -> int:
    """Decimals a step needs: ``0.01`` → 2, ``0.050`` → 2, ``1`` → 0, ``100`` → 0."""
    number = _decimal(step)
    if number is None or number == 0:
        return 0
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return max(0, -exponent)


def decimal_text(value: Any, *, places: int = 0) -> str:
    """``value`` in fixed-point notation with at least ``places`` decimals and no trailing zeros
    beyond them; ``""`` for None, the value as given if it is not a finite number."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if number == 0:
        number = Decimal(0)  # no "-0", no "0E-8"
    normal = number.normalize()
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)
    shown = max(places, -exponent, 0)
    return f"{normal:.{shown}f}"


def _step(instrument: Any, attribute: str) -> Any:
    if instrument is None or instrument == "":
        return None
    return getattr(instrument, attribute, instrument)


@register.filter
def plain(value: Any) -> str:
    return decimal_text(value)


@register.filter
def price(value: Any, instrument: Any = None) -> str:
    return decimal_text(value, places=scale_of(_step(instrument, "tick_size")))


@register.filter
def quantity(value: Any, instrument: Any = None) -> str:
    return decimal_text(value, places=scale_of(_step(instrument, "lot_size")))
