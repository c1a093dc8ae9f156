from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument, ReferencePrice
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger.models import Asset

pytestmark = pytest.mark.django_db


def test_instrument_gets_a_ledger_asset_scaled_by_lot_size(actor):
    whole = instrument_create(actor=actor, symbol="AAPL", name="Apple", currency="USD", tick_size="0.01", lot_size="1")
    fractional = instrument_create(
        actor=actor,
        symbol="BTC",
        name="Bitcoin",
        currency="USD",
        tick_size="0.01",
        lot_size="0.0001",
        asset_class="crypto",
    )
    assert (whole.asset.code, whole.asset.kind, whole.asset.scale) == ("AAPL", "instrument", 0)
    assert fractional.asset.scale == 4
    assert (
        instrument_create(actor=actor, symbol="AAPL", name="Apple", currency="USD", tick_size="0.01", lot_size="1").pk
        == whole.pk
    )


def test_reference_price_is_set_and_replaced(actor):
    instrument = instrument_create(
        actor=actor, symbol="MSFT", name="Microsoft", currency="USD", tick_size="0.01", lot_size="1"
    )
    first = reference_price_set(actor=actor, instrument=instrument, price="410.25")
    second = reference_price_set(actor=actor, instrument=instrument, price="411.00")
    assert first.pk == second.pk
    instrument.refresh_from_db()
    assert instrument.reference_price.price == Decimal("411.00")
    assert instrument.reference_price.as_of.tzinfo is not None


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"symbol": ""}, "invalid_symbol"),
        ({"symbol": " X"}, "invalid_symbol"),
        ({"currency": "ZZZ"}, "unknown_asset"),
        ({"tick_size": "0"}, "invalid_amount"),
        ({"lot_size": "-1"}, "invalid_amount"),
        ({"tick_size": "NaN"}, "invalid_amount"),
        ({"tick_size": 0.01}, "invalid_amount"),
        ({"asset_class": "tulips"}, "invalid_asset_class"),
    ],
)
def test_bad_instrument_input(actor, kwargs, code):
    base = {"symbol": "GOOD", "name": "Good", "currency": "USD", "tick_size": "0.01", "lot_size": "1"}
    with pytest.raises(ApplicationError) as info:
        instrument_create(actor=actor, **{**base, **kwargs})
    assert info.value.code == code
    assert not Instrument.objects.exists()
    assert not Asset.objects.filter(kind="instrument").exists()


@pytest.mark.parametrize(
    ("price", "code"), [("0", "invalid_amount"), ("1.005", "invalid_price"), ("Inf", "invalid_amount")]
)
def test_bad_prices(actor, price, code):
    instrument = instrument_create(
        actor=actor, symbol="SPY", name="SPY", currency="USD", tick_size="0.01", lot_size="1"
    )
    with pytest.raises(ApplicationError) as info:
        reference_price_set(actor=actor, instrument=instrument, price=price)
    assert info.value.code == code
    assert not ReferencePrice.objects.filter(instrument=instrument).exists()
