"""Serializer fields for money, quantities and prices: strings on the wire, Decimal inside."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.decimals import check_scale, to_decimal
from apps.core.errors import ApplicationError


def decimal_string(value: Decimal | None, *, min_places: int = 0) -> str | None:
    """Fixed-point text without trailing zeros beyond ``min_places`` (``"10"``, ``"189.25"``,
    ``"1000.00"`` for money)."""
    if value is None:
        return None
    text = f"{value.normalize():f}"
    if min_places:
        places = len(text.partition(".")[2])
        if places < min_places:
            text = f"{value.quantize(Decimal(1).scaleb(-min_places)):f}"
    return text


DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
_DECIMAL_TEXT = re.compile(DECIMAL_PATTERN, re.ASCII)


@extend_schema_field({"type": "string", "format": "decimal", "example": "10.25", "pattern": DECIMAL_PATTERN})
class DecimalString(serializers.Field):
    """A decimal as a string. Input may be a string or a JSON number (parsed exactly); never
    NaN, infinity or more than eight decimal places."""

    default_error_messages = {"invalid": "A decimal number is required."}

    def __init__(self, *, min_places: int = 0, scale: int = 8, **kwargs: Any) -> None:
        self.min_places = min_places
        self.scale = scale
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, str) and not _DECIMAL_TEXT.fullmatch(data):  # the documented pattern: no "1e3", " 5", "NaN"
            raise serializers.ValidationError("A decimal number is required.", code="invalid")
        try:
            return check_scale(to_decimal(data, field=self.field_name or "value"), scale=self.scale)
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.detail, code="invalid") from None

    def to_representation(self, value: Decimal) -> str | None:
        return decimal_string(value, min_places=self.min_places)


def Money(**kwargs: Any) -> DecimalString:  # noqa: N802 - reads like a field class
    """Cash: at least two decimal places on output."""
    return DecimalString(min_places=2, **kwargs)


def Price(**kwargs: Any) -> DecimalString:  # noqa: N802 - reads like a field class
    """Prices: at least two decimal places on output (``"187.50"``), more when the tick has them."""
    return DecimalString(min_places=2, **kwargs)
