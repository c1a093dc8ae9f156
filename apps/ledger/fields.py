"""One column definition per concept, reused everywhere."""

from django.db import models

from apps.core.decimals import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


def AmountField(**kwargs: object) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """A signed quantity of one asset (cash or shares): NUMERIC(28, 8)."""
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs)  # type: ignore[arg-type]
