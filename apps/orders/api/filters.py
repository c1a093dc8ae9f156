"""Query filters for the order and fill lists (validated: a bad value answers 400)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import django_filters
from django import forms
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from apps.core.api.filters import StrictFilterSet
from apps.core.ids import MAX_ID
from apps.orders.models import STATUS_CHOICES, Fill, Order, Side


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, converted to UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def to_python(self, value: str | datetime | date | None) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("The instant is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class IdFilter(django_filters.Filter):
    """A positive 64-bit id (anything else is a 400, never a database error)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class OrderFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id")
    status = django_filters.MultipleChoiceFilter(choices=STATUS_CHOICES)
    symbol = django_filters.CharFilter(field_name="instrument__symbol")
    side = django_filters.ChoiceFilter(choices=Side.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ("account", "status", "symbol", "side", "created_after", "created_before")


class FillFilter(StrictFilterSet):
    account = IdFilter(field_name="order__account_id")
    order = IdFilter(field_name="order_id")
    symbol = django_filters.CharFilter(field_name="order__instrument__symbol")

    class Meta:
        model = Fill
        fields = ("account", "order", "symbol")
