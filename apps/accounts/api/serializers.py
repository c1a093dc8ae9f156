"""Shapes of the account endpoints (validation of shape only: services decide)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.core.api.fields import DecimalString, Money, Price


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    base_currency = serializers.CharField()
    status = serializers.CharField()
    owners = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_owners(self, account: object) -> list[str]:
        return [owner.username for owner in account.owners.all()]  # type: ignore[attr-defined]


class AccountCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=128)
    base_currency = serializers.CharField(max_length=3, min_length=3)
    owner = serializers.CharField(max_length=150, required=False, allow_null=True, help_text="User name of the owner.")


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField(source="asset")
    available = Money()
    reserved = Money()
    total = Money()


class PositionSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    currency = serializers.CharField()
    quantity = DecimalString()
    available = DecimalString()
    reserved = DecimalString()
    average_cost = Price(allow_null=True)
    cost_basis = Money()
    realized_pnl = Money()
    market_price = Price(allow_null=True)
    price_at = serializers.DateTimeField(allow_null=True)
    market_value = Money(allow_null=True)
    unrealized_pnl = Money(allow_null=True)


class LedgerLineSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The entry id.")
    transaction_id = serializers.IntegerField()
    sequence = serializers.SerializerMethodField(
        help_text="Gap-free ledger number; null for a few seconds after posting."
    )
    posted_at = serializers.DateTimeField()
    kind = serializers.CharField(source="transaction.kind")
    asset = serializers.CharField(source="asset.code")
    purpose = serializers.CharField(
        source="ledger_account.purpose", help_text="Which balance moved (available or reserved)."
    )
    amount = serializers.SerializerMethodField(help_text="Signed, at the asset's scale.")
    balance_after = serializers.SerializerMethodField(help_text="The balance after this line, at the asset's scale.")
    memo = serializers.CharField(source="transaction.memo")

    def get_amount(self, entry: Any) -> str:
        return at_scale(entry.amount, entry.asset.scale)

    def get_balance_after(self, entry: Any) -> str:
        return at_scale(entry.balance_after, entry.asset.scale)

    def get_sequence(self, entry: object) -> int | None:
        numbering = getattr(entry.transaction, "numbering", None)  # type: ignore[attr-defined]
        return numbering.sequence if numbering is not None else None


def at_scale(value: Decimal, scale: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-scale)):f}"


class LedgerPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LedgerLineSerializer(many=True)


class CashMovementSerializer(StrictSerializer):
    currency = serializers.CharField(max_length=16)
    amount = DecimalString()
    idempotency_key = serializers.CharField(max_length=128)
    memo = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class CashTransactionSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField(source="pk")
    kind = serializers.CharField()
    currency = serializers.CharField()
    amount = Money()
    idempotency_key = serializers.CharField()
    memo = serializers.CharField()
    posted_at = serializers.DateTimeField()


class GrantSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=["view", "trade"]), allow_empty=False, max_length=2
    )


class GrantResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
