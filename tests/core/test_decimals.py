"""``{% load decimals %}``: no trailing zeros, no exponent, the instrument's precision."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template import Context, Template

from apps.core.templatetags.decimals import decimal_text, plain, price, quantity, scale_of

EQUITY = SimpleNamespace(tick_size=Decimal("0.01000000"), lot_size=Decimal("1.00000000"))
CRYPTO = SimpleNamespace(tick_size=Decimal("0.50"), lot_size=Decimal("0.00010000"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("100.00000000"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("1E-10"), "0.0000000001"),
        (Decimal("-12.3400"), "-12.34"),
        (Decimal("-0.00"), "0"),
        (Decimal("0E-8"), "0"),
        (5, "5"),
        ("2.50", "2.5"),
        (None, ""),
        ("n/a", "n/a"),
        (Decimal("NaN"), "NaN"),
    ],
)
def test_plain(value, text):  # type: ignore[no-untyped-def]
    assert plain(value) == text


def test_the_instrument_sets_the_decimals_shown_and_never_hides_any():
    assert [scale_of(s) for s in ("0.01", "0.050", "1", "100", "0.00010000", None)] == [2, 2, 0, 0, 4, 0]
    assert price(Decimal("100"), EQUITY) == "100.00"
    assert price(Decimal("99.50000000"), EQUITY) == "99.50"
    assert price(Decimal("100.12500000"), EQUITY) == "100.125"  # an average price keeps its digits
    assert quantity(Decimal("10.00000000"), EQUITY) == "10"
    assert quantity(Decimal("1.5"), CRYPTO) == "1.5000"
    assert price(Decimal("20000.00000000"), CRYPTO) == "20000.0"
    assert price(Decimal("1E+3"), "0.01") == "1000.00"  # the step itself
    assert quantity(Decimal("3.10"), None) == "3.1"  # no instrument: plain
    assert decimal_text(Decimal("7"), places=3) == "7.000"


def test_in_a_template():
    rendered = Template("{% load decimals %}{{ q|quantity:inst }} @ {{ p|price:inst }} = {{ n|plain }}").render(
        Context({"q": Decimal("10.00000000"), "p": Decimal("100.10000000"), "n": Decimal("1001.00"), "inst": EQUITY})
    )
    assert rendered == "10 @ 100.10 = 1001"
