"""Shapes of the instrument endpoints."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.core.api.fields import DecimalString, Price


class InstrumentSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    asset_class = serializers.CharField()
    currency = serializers.CharField()
    tick_size = DecimalString()
    lot_size = DecimalString()
    active = serializers.BooleanField()
    last_price = serializers.SerializerMethodField()
    price_at = serializers.SerializerMethodField()

    def _ref(self, instrument: object) -> object | None:
        return getattr(instrument, "reference_price", None)

    def get_last_price(self, instrument: object) -> str | None:
        ref = self._ref(instrument)
        return Price().to_representation(ref.price) if ref is not None else None  # type: ignore[attr-defined]

    def get_price_at(self, instrument: object) -> str | None:
        ref = self._ref(instrument)
        return serializers.DateTimeField().to_representation(ref.as_of) if ref is not None else None  # type: ignore[attr-defined]


class PriceInputSerializer(StrictSerializer):
    price = Price()


class PriceSerializer(serializers.Serializer):
    symbol = serializers.CharField(source="instrument.symbol")
    price = Price()
    price_at = serializers.DateTimeField(source="as_of")
    source = serializers.CharField()  # type: ignore[assignment]
