"""Shapes of the risk-control endpoints: trading states (kill switch) and the restricted list."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.risk.models import TradingStateValue


class TradingStateInputSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=TradingStateValue.values)
    reason = serializers.CharField(max_length=500)


class TradingStateSerializer(serializers.Serializer):
    scope = serializers.CharField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    symbol = serializers.SerializerMethodField()
    state = serializers.CharField()
    reason = serializers.CharField()
    updated_by = serializers.CharField(source="updated_by.username")
    updated_at = serializers.DateTimeField()

    def get_symbol(self, row: object) -> str | None:
        instrument = getattr(row, "instrument", None)
        return instrument.symbol if instrument is not None else None


class RestrictionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    symbol = serializers.CharField(source="instrument.symbol")
    account = serializers.IntegerField(source="account_id", allow_null=True)
    reason = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()


class RestrictionCreateSerializer(StrictSerializer):
    symbol = serializers.CharField(max_length=32)
    reason = serializers.CharField(max_length=500)
    account = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Only this account; omit for all."
    )
