"""Decimal parsing and checks at the boundaries. Floats are refused outright."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from apps.core.errors import ValidationError

# One definition per concept; the ledger stores every asset in the same column shape.
AMOUNT_MAX_DIGITS = 28
AMOUNT_DECIMAL_PLACES = 8
AMOUNT_MAX_INTEGER_DIGITS = AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES


def to_decimal(value: Any, *, field: str = "amount") -> Decimal:
    """Parse ``value`` into a finite Decimal, or raise ``invalid_amount``.

    Accepts Decimal, int and str; refuses float (binary fractions are not money), bool,
    NaN and infinities.
    """
    if isinstance(value, (bool, float)):
        raise ValidationError(
            f"{field} must be a decimal string or Decimal, not {type(value).__name__}.",
            code="invalid_amount",
            field=field,
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValidationError(f"{field} is not a number: {value!r}.", code="invalid_amount", field=field) from None
    else:
        raise ValidationError(
            f"{field} has an unsupported type {type(value).__name__}.", code="invalid_amount", field=field
        )
    if not result.is_finite():
        raise ValidationError(f"{field} must be finite.", code="invalid_amount", field=field)
    return result


def check_scale(value: Decimal, *, scale: int, field: str = "amount") -> Decimal:
    """Refuse more fractional digits than ``scale`` or more integer digits than the column holds."""
    if value and value.adjusted() >= AMOUNT_MAX_INTEGER_DIGITS:
        raise ValidationError(f"{field} {value} is too large.", code="invalid_amount", field=field)
    quantum = Decimal(1).scaleb(-scale)
    try:
        quantized = value.quantize(quantum)
    except InvalidOperation:
        raise ValidationError(f"{field} {value} is too large.", code="invalid_amount", field=field) from None
    if quantized != value:
        raise ValidationError(
            f"{field} {value} has more than {scale} decimal places.", code="invalid_amount", field=field
        )
    return quantized
