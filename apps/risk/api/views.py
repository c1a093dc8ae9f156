"""Compliance controls: the firm-wide trading state (kill switch) and the restricted list."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import TradingAccount
from apps.accounts.permissions import IsCompliance
from apps.core.api.base import ActorBoundMixin, BackofficeAPIView, actor_of, body
from apps.core.errors import NotFound, ValidationError
from apps.core.ids import parse_id
from apps.instruments.selectors import instrument_get
from apps.risk import services
from apps.risk.api import serializers as s
from apps.risk.models import RestrictedInstrument


class GlobalTradingStateView(BackofficeAPIView):
    permission_classes = [IsCompliance]

    @extend_schema(request=s.TradingStateInputSerializer, responses=s.TradingStateSerializer)
    def put(self, request: Request) -> Response:
        """Halt, reduce or reactivate trading firm-wide; takes effect for the very next order."""
        data = body(s.TradingStateInputSerializer, request)
        row = services.trading_state_set(actor=actor_of(request), state=data["state"], reason=data["reason"])
        return Response(s.TradingStateSerializer(row).data)


class RestrictionListView(ActorBoundMixin, ListAPIView):
    permission_classes = [IsCompliance]
    serializer_class = s.RestrictionSerializer

    def get_queryset(self) -> QuerySet[RestrictedInstrument]:
        return RestrictedInstrument.objects.select_related("instrument", "created_by")

    @extend_schema(request=s.RestrictionCreateSerializer, responses={201: s.RestrictionSerializer})
    def post(self, request: Request) -> Response:
        """Restrict an instrument firm-wide, or for one account (idempotent per target)."""
        data = body(s.RestrictionCreateSerializer, request)
        instrument = instrument_get(data["symbol"])
        if instrument is None:
            raise ValidationError(f"Unknown instrument {data['symbol']!r}.", code="unknown_instrument", field="symbol")
        account = None
        if data.get("account") is not None:
            account = TradingAccount.objects.filter(pk=data["account"]).first()
            if account is None:
                raise ValidationError("Unknown trading account.", code="unknown_account", field="account")
        row = services.restricted_instrument_add(
            actor=actor_of(request), instrument=instrument, reason=data["reason"], account=account
        )
        row = RestrictedInstrument.objects.select_related("instrument", "created_by").get(pk=row.pk)
        return Response(s.RestrictionSerializer(row).data, status=status.HTTP_201_CREATED)


class RestrictionDetailView(BackofficeAPIView):
    permission_classes = [IsCompliance]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, restriction_id: Any) -> Response:
        pk = parse_id(restriction_id)
        if pk is None:
            raise NotFound("No such restriction.", code="restriction_not_found")
        services.restricted_instrument_remove(actor=actor_of(request), restriction_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
