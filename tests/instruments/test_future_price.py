"""A reference price stamped in the future is refused (``future_price``) and changes nothing; a few
seconds of clock skew are tolerated."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.core.errors import ValidationError
from apps.instruments.models import PriceObservation, ReferencePrice
from apps.instruments.services import PRICE_CLOCK_SKEW, reference_price_set
from apps.instruments.signals import reference_price_changed

pytestmark = pytest.mark.django_db


def test_a_future_price_is_refused_and_changes_nothing(actor, instrument) -> None:  # type: ignore[no-untyped-def]
    before = list(ReferencePrice.objects.values()), list(PriceObservation.objects.values())
    sent: list[Any] = []
    reference_price_changed.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="future")
    try:
        with pytest.raises(ValidationError) as refused:
            reference_price_set(
                actor=actor, instrument=instrument, price="101.00", as_of=timezone.now() + timedelta(minutes=1)
            )
    finally:
        reference_price_changed.disconnect(dispatch_uid="future")
    assert refused.value.code == "future_price" and refused.value.extra["field"] == "as_of"
    assert (list(ReferencePrice.objects.values()), list(PriceObservation.objects.values())) == before
    assert sent == []


def test_clock_skew_within_the_tolerance_is_accepted(actor, instrument) -> None:  # type: ignore[no-untyped-def]
    assert timedelta(seconds=5) == PRICE_CLOCK_SKEW
    as_of = timezone.now() + timedelta(seconds=2)
    ref = reference_price_set(actor=actor, instrument=instrument, price="101.00", as_of=as_of)
    assert (ref.price, ref.as_of) == (Decimal("101.00"), as_of)
