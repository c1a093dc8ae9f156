"""Instrument endpoints: the list, one instrument with its last price, and setting a price."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import IsOperations
from apps.core.api.base import ActorBoundMixin, BackofficeAPIView, actor_of, body
from apps.core.api.pagination import SymbolPagination
from apps.core.errors import NotFound
from apps.instruments import services
from apps.instruments.api import serializers as s
from apps.instruments.models import Instrument


def _instrument(symbol: str) -> Instrument:
    if "\x00" in symbol:  # PostgreSQL text cannot hold NUL: no such instrument
        raise NotFound(f"No instrument {symbol!r}.", code="instrument_not_found")
    instrument = Instrument.objects.select_related("reference_price").filter(symbol=symbol).first()
    if instrument is None:
        raise NotFound(f"No instrument {symbol!r}.", code="instrument_not_found")
    return instrument


class InstrumentListView(ActorBoundMixin, ListAPIView):
    serializer_class = s.InstrumentSerializer
    pagination_class = SymbolPagination

    def get_queryset(self) -> QuerySet[Instrument]:
        return Instrument.objects.select_related("reference_price")


class InstrumentDetailView(BackofficeAPIView):
    @extend_schema(responses=s.InstrumentSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        return Response(s.InstrumentSerializer(_instrument(symbol)).data)


class PriceView(BackofficeAPIView):
    permission_classes = [IsOperations]

    @extend_schema(request=s.PriceInputSerializer, responses={201: s.PriceSerializer})
    def post(self, request: Request, symbol: str) -> Response:
        """Record a reference price: it marks positions and feeds the paper broker."""
        instrument = _instrument(symbol)
        data = body(s.PriceInputSerializer, request)
        ref = services.reference_price_set(
            actor=actor_of(request), instrument=instrument, price=data["price"], source="api"
        )
        return Response(s.PriceSerializer(ref).data, status=status.HTTP_201_CREATED)
