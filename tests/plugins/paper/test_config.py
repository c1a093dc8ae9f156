"""The paper broker's settings and its commission arithmetic."""

from __future__ import annotations

from datetime import time
from decimal import Decimal as D

import pytest
from django.core.exceptions import ImproperlyConfigured

from plugins.paper.commission import commission_for, fill_fee
from plugins.paper.config import DEFAULTS, PaperSettings
from plugins.paper.plugin import spec


def test_the_defaults_parse_to_the_documented_values():
    settings = PaperSettings.parse(DEFAULTS)
    assert settings == PaperSettings()
    assert (settings.commission_per_share, settings.commission_minimum, settings.slippage_bps) == (
        D("0.005"),
        D("1.00"),
        0,
    )
    assert settings.random_walk is False and settings.partial_fill_quantity is None
    assert spec.default_settings is DEFAULTS


def test_strings_from_the_environment_are_parsed():
    settings = PaperSettings.parse(
        {
            "seed": "7",
            "slippage_bps": "2.5",
            "partial_fill_quantity": "10",
            "max_fill_ratio": "0.5",
            "max_price_age_seconds": "30",
            "day_close_utc": "21:00",
            "random_walk": "yes",
            "random_walk_symbols": "MSFT, AAPL,",
        }
    )
    assert settings.seed == 7 and settings.slippage_bps == D("2.5")
    assert (settings.partial_fill_quantity, settings.max_fill_ratio) == (D(10), D("0.5"))
    assert (settings.max_price_age_seconds, settings.day_close_utc) == (30, time(21, 0))
    assert settings.random_walk is True and settings.random_walk_symbols == ("AAPL", "MSFT")


@pytest.mark.parametrize(
    "bad",
    [
        {"slippage_bps": 1.5},  # floats are refused, always
        {"slippage_bps": "-1"},
        {"slippage_bps": "10000"},
        {"commission_minimum": "NaN"},
        {"commission_quantum": "0"},
        {"max_fill_ratio": "0"},
        {"max_fill_ratio": "1.5"},
        {"partial_fill_quantity": "0"},
        {"seed": True},
        {"seed": "1.5"},
        {"day_close_utc": "9pm"},
        {"random_walk": "perhaps"},
        {"commission_per_share": None},
    ],
)
def test_bad_values_are_refused(bad):
    with pytest.raises(ImproperlyConfigured):
        PaperSettings.parse(bad)


@pytest.mark.parametrize(
    ("filled", "commission"),
    [("0", "0.00"), ("1", "1.00"), ("200", "1.00"), ("201", "1.01"), ("333", "1.67"), ("1000", "5.00")],
)
def test_commission_for_an_order(filled, commission):
    assert commission_for(D(filled), PaperSettings()) == D(commission)


def test_fees_of_the_fills_add_up_to_the_commission_of_the_order():
    settings = PaperSettings()
    filled, fees = D(0), []
    for quantity in (D(50), D(150), D(1), D(99), D(700)):
        fees.append(fill_fee(filled_before=filled, quantity=quantity, settings=settings))
        filled += quantity
    assert fees == [D("1.00"), D("0.00"), D("0.01"), D("0.49"), D("3.50")]
    assert sum(fees) == commission_for(filled, settings) == D("5.00")
