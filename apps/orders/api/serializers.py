"""Shapes of the order and fill endpoints (shape only: the order services decide)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.core.api.fields import DecimalString, Money, Price
from apps.core.ids import MAX_ID
from apps.orders.batch import MAX_BATCH
from apps.orders.models import OrderType, Side, TimeInForce


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    client_order_id = serializers.CharField()
    symbol = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    type = serializers.CharField()
    quantity = DecimalString()
    limit_price = Price(allow_null=True)
    stop_price = Price(allow_null=True)
    time_in_force = serializers.CharField()
    status = serializers.CharField()
    filled_quantity = DecimalString()
    average_fill_price = Price(allow_null=True)
    fees = Money()
    reject_reason = serializers.CharField(help_text="The risk or broker reason code when rejected, else empty.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderCreateSerializer(StrictSerializer):
    account = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=Side.values)
    type = serializers.ChoiceField(choices=OrderType.values)
    quantity = DecimalString()
    limit_price = Price(required=False, allow_null=True, help_text="Required for limit and stop_limit.")
    stop_price = Price(required=False, allow_null=True, help_text="Required for stop and stop_limit.")
    time_in_force = serializers.ChoiceField(choices=TimeInForce.values, default=TimeInForce.DAY)
    client_order_id = serializers.CharField(
        max_length=64, required=False, allow_null=True, help_text="Your id; the same id and body again is a replay."
    )


class OrderReplaceSerializer(StrictSerializer):
    quantity = DecimalString(required=False)
    limit_price = DecimalString(required=False)
    stop_price = DecimalString(required=False)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if not attrs:
            raise serializers.ValidationError("Give at least one of quantity, limit_price, stop_price.")
        return attrs


class OrderEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status_after = serializers.CharField()
    at = serializers.DateTimeField()
    broker_at = serializers.DateTimeField(allow_null=True)
    actor = serializers.CharField(source="actor.username")
    initiator = serializers.CharField()
    data = serializers.JSONField()  # type: ignore[assignment]


class FillSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    account = serializers.IntegerField(source="order.account_id")
    symbol = serializers.CharField(source="order.instrument.symbol")
    side = serializers.CharField(source="order.side")
    exec_id = serializers.CharField()
    quantity = DecimalString()
    price = Price()
    fee = Money()
    executed_at = serializers.DateTimeField()


class OrderBatchSerializer(StrictSerializer):
    """A batch's envelope; each item is validated on its own (an invalid item is answered 400
    alone), so items are taken as given here."""

    orders = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=MAX_BATCH)


class OrderBatchRequestSchema(serializers.Serializer):
    """The batch request as the schema documents it."""

    orders = OrderCreateSerializer(many=True, help_text=f"1 to {MAX_BATCH} orders, each as POST /orders/ takes it.")


class OrderBatchResultSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="What POST /orders/ would have answered for this order.")
    order = OrderSerializer(required=False, help_text="With 201 (accepted) and 200 (a replay).")
    problem = serializers.DictField(
        required=False, help_text="With any other status: the problem details POST /orders/ would have returned."
    )


class OrderBatchResponseSerializer(serializers.Serializer):
    results = OrderBatchResultSerializer(many=True, help_text="One per order, in request order.")
