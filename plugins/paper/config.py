"""The paper broker's settings: defaults, and parsing from ``settings.BROKERS["paper"]``.

Values may be given as their type or as strings (they usually come from the environment);
decimals as ``str``, ``int`` or ``Decimal``, never ``float``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from apps.core.decimals import to_decimal
from apps.core.errors import ValidationError

DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "seed": 0,  # the random walk's seed
        "slippage_bps": "0",  # market and stop fills: buys pay up, sells receive less
        "commission_per_share": "0.005",
        "commission_minimum": "1.00",  # per order, spread over its fills
        "commission_quantum": "0.01",  # fees are rounded (half up) to this
        "partial_fill_quantity": None,  # at most this much per evaluation (None: no limit)
        "max_fill_ratio": None,  # at most this fraction of the order's quantity per evaluation
        "max_price_age_seconds": None,  # older reference prices count as none (None: any age)
        "day_close_utc": None,  # "HH:MM": DAY orders still resting then expire (None: never)
        "random_walk": False,  # the scheduled task moves reference prices only when true
        "random_walk_max_bps": "50",  # largest move per step, in basis points (at least one tick)
        "random_walk_symbols": (),  # empty: every active instrument with a reference price
    }
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class PaperSettings:
    seed: int = 0
    slippage_bps: Decimal = Decimal(0)
    commission_per_share: Decimal = Decimal("0.005")
    commission_minimum: Decimal = Decimal("1.00")
    commission_quantum: Decimal = Decimal("0.01")
    partial_fill_quantity: Decimal | None = None
    max_fill_ratio: Decimal | None = None
    max_price_age_seconds: int | None = None
    day_close_utc: time | None = None
    random_walk: bool = False
    random_walk_max_bps: Decimal = Decimal(50)
    random_walk_symbols: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> PaperSettings:
        """Parse merged settings (unknown keys are refused by the registry); raise ImproperlyConfigured."""
        values = {**DEFAULTS, **raw}
        ratio = _decimal(values, "max_fill_ratio", optional=True)
        if ratio is not None and not Decimal(0) < ratio <= 1:
            raise ImproperlyConfigured("paper: max_fill_ratio must be in (0, 1].")
        slippage = _decimal(values, "slippage_bps")
        assert slippage is not None
        if slippage >= 10_000:
            raise ImproperlyConfigured("paper: slippage_bps must be below 10000.")
        return cls(
            seed=_int(values, "seed"),
            slippage_bps=slippage,
            commission_per_share=_required(values, "commission_per_share"),
            commission_minimum=_required(values, "commission_minimum"),
            commission_quantum=_required(values, "commission_quantum", positive=True),
            partial_fill_quantity=_decimal(values, "partial_fill_quantity", optional=True, positive=True),
            max_fill_ratio=ratio,
            max_price_age_seconds=_optional_int(values, "max_price_age_seconds"),
            day_close_utc=_time(values, "day_close_utc"),
            random_walk=_bool(values, "random_walk"),
            random_walk_max_bps=_required(values, "random_walk_max_bps", positive=True),
            random_walk_symbols=_symbols(values, "random_walk_symbols"),
        )


def _required(values: Mapping[str, Any], key: str, *, positive: bool = False) -> Decimal:
    number = _decimal(values, key, positive=positive)
    assert number is not None
    return number


def _decimal(values: Mapping[str, Any], key: str, *, optional: bool = False, positive: bool = False) -> Decimal | None:
    raw = values.get(key)
    if raw is None or raw == "":
        if optional:
            return None
        raise ImproperlyConfigured(f"paper: {key} is required.")
    try:
        number = to_decimal(raw, field=key)
    except ValidationError as exc:
        raise ImproperlyConfigured(f"paper: {exc.detail}") from None
    if number < 0 or (positive and number == 0):
        raise ImproperlyConfigured(f"paper: {key} must be {'positive' if positive else 'zero or more'}.")
    return number


def _int(values: Mapping[str, Any], key: str) -> int:
    number = _optional_int(values, key)
    if number is None:
        raise ImproperlyConfigured(f"paper: {key} is required.")
    return number


def _optional_int(values: Mapping[str, Any], key: str) -> int | None:
    raw = values.get(key)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ImproperlyConfigured(f"paper: {key} must be an integer.")
    try:
        number = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"paper: {key} must be an integer, not {raw!r}.") from None
    if number < 0:
        raise ImproperlyConfigured(f"paper: {key} must be zero or more.")
    return number


def _bool(values: Mapping[str, Any], key: str) -> bool:
    raw = values.get(key)
    if isinstance(raw, bool):
        return raw
    if raw is None:
        return False
    text = str(raw).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ImproperlyConfigured(f"paper: {key} must be true or false, not {raw!r}.")


def _time(values: Mapping[str, Any], key: str) -> time | None:
    raw = values.get(key)
    if raw is None or raw == "":
        return None
    if isinstance(raw, time):
        return raw
    try:
        return time.fromisoformat(str(raw))
    except ValueError:
        raise ImproperlyConfigured(f"paper: {key} must be HH:MM (UTC), not {raw!r}.") from None


def _symbols(values: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = values.get(key) or ()
    if isinstance(raw, str):
        raw = [part for part in raw.split(",")]
    return tuple(sorted({str(symbol).strip() for symbol in raw if str(symbol).strip()}))
