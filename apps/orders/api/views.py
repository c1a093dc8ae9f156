"""Order and fill endpoints. Thin: shape checks here, every decision in the order services."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import can_trade, visible_account_ids
from apps.accounts.selectors import account_get_visible
from apps.core.api.base import ActorBoundMixin, BackofficeAPIView, OrderEntryThrottle, actor_of, body
from apps.core.api.schema import ProblemSerializer
from apps.core.errors import BusinessRuleViolation, Forbidden, NotFound
from apps.core.ids import parse_id
from apps.orders import services
from apps.orders.api import serializers as s
from apps.orders.api.filters import FillFilter, OrderFilter
from apps.orders.models import Fill, Order, OrderEvent
from apps.orders.state import Status


class OrderRejected(BusinessRuleViolation):
    """Risk (or the broker) refused the order; it is stored with its reason, as evidence."""

    title = "Order rejected"


def _with_order_throttle(view: Any, throttles: list[Any]) -> list[Any]:
    if view.request.method not in SAFE_METHODS:
        throttles.append(OrderEntryThrottle())
    return throttles


def visible_orders(user: Any) -> QuerySet[Order]:
    return Order.objects.filter(account_id__in=visible_account_ids(user)).select_related("instrument")


def _visible_order(request: Request, order_id: Any) -> Order:
    pk = parse_id(order_id)
    order = visible_orders(request.user).filter(pk=pk).first() if pk is not None else None
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


def _require_trade(request: Request, order: Order) -> None:
    if not can_trade(request.user, order.account):
        raise Forbidden("You may view this account but not trade on it.", code="trade_not_permitted")


def order_terms(account: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A validated ``OrderCreateSerializer`` body as the placement services take it."""
    return {
        "account": account,
        "symbol": data["symbol"],
        "side": data["side"],
        "type": data["type"],
        "quantity": data["quantity"],
        "limit_price": data.get("limit_price"),
        "stop_price": data.get("stop_price"),
        "time_in_force": data["time_in_force"],
        "client_order_id": data.get("client_order_id"),
    }


def _order_response(order: Order, code: int) -> Response:
    return Response(s.OrderSerializer(order).data, status=code)


ORDER_EXAMPLES = [
    OpenApiExample(
        "Limit buy",
        request_only=True,
        value={
            "account": 1,
            "symbol": "AAPL",
            "side": "buy",
            "type": "limit",
            "quantity": "10",
            "limit_price": "189.00",
            "time_in_force": "day",
            "client_order_id": "my-order-0001",
        },
    ),
    OpenApiExample(
        "Market sell",
        request_only=True,
        value={
            "account": 1,
            "symbol": "AAPL",
            "side": "sell",
            "type": "market",
            "quantity": "5",
            "time_in_force": "day",
        },
    ),
    OpenApiExample(
        "Rejected by risk",
        response_only=True,
        status_codes=["422"],
        value={
            "type": "https://backoffice.example/problems/insufficient_buying_power",
            "title": "Order rejected",
            "status": 422,
            "detail": "Buying power 1000.00 USD is short of 1894.50 USD.",
            "code": "insufficient_buying_power",
            "order_id": 42,
        },
    ),
]


class OrderListView(ActorBoundMixin, ListAPIView):
    """Orders on the accounts the user may view, newest first."""

    serializer_class = s.OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self) -> QuerySet[Order]:
        return visible_orders(self.request.user)

    def get_throttles(self) -> list[Any]:
        return _with_order_throttle(self, super().get_throttles())

    @extend_schema(
        request=s.OrderCreateSerializer,
        responses={
            201: OpenApiResponse(s.OrderSerializer, description="Accepted by risk: pending_new, routed to its broker."),
            200: OpenApiResponse(s.OrderSerializer, description="A replay: the same client_order_id and body."),
            409: OpenApiResponse(ProblemSerializer, description="client_order_id already used for another order."),
            422: OpenApiResponse(
                ProblemSerializer, description="Rejected by risk: `code` is the reason, `order_id` the stored order."
            ),
        },
        examples=ORDER_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        """Place an order. Pre-trade risk runs inside the transaction that holds the funds."""
        data = body(s.OrderCreateSerializer, request)
        account = account_get_visible(request.user, data["account"])  # type: ignore[arg-type]
        if account is None:
            raise NotFound("No such trading account.", code="account_not_found")
        if not account.can_trade:  # type: ignore[attr-defined]
            raise Forbidden("You may view this account but not trade on it.", code="trade_not_permitted")
        order = services.order_place(actor=actor_of(request), **order_terms(account, data))
        if order.status == Status.REJECTED:
            raise OrderRejected(
                order.reject_detail or "The order was rejected.", code=order.reject_reason, order_id=order.pk
            )
        return _order_response(
            order, status.HTTP_200_OK if getattr(order, "replayed", False) else status.HTTP_201_CREATED
        )


class OrderDetailView(BackofficeAPIView):
    def get_throttles(self) -> list[Any]:
        return _with_order_throttle(self, super().get_throttles())

    @extend_schema(responses=s.OrderSerializer)
    def get(self, request: Request, order_id: Any) -> Response:
        return _order_response(_visible_order(request, order_id), status.HTTP_200_OK)

    @extend_schema(
        request=s.OrderReplaceSerializer,
        responses={
            200: s.OrderSerializer,
            422: OpenApiResponse(
                ProblemSerializer, description="Not replaceable now, or the new terms fail a risk check."
            ),
        },
    )
    def patch(self, request: Request, order_id: Any) -> Response:
        """Replace quantity or prices of an open order; the venue confirms later (pending_replace)."""
        order = _visible_order(request, order_id)
        _require_trade(request, order)
        data = body(s.OrderReplaceSerializer, request)
        services.order_replace(actor=actor_of(request), order_id=order.pk, **data)
        return _order_response(_visible_order(request, order.pk), status.HTTP_200_OK)

    @extend_schema(
        responses={202: s.OrderSerializer, 422: OpenApiResponse(ProblemSerializer, description="order_not_cancelable")}
    )
    def delete(self, request: Request, order_id: Any) -> Response:
        """Ask to cancel; 202 with the order (pending_cancel) — the venue confirms later."""
        order = _visible_order(request, order_id)
        _require_trade(request, order)
        services.order_cancel(actor=actor_of(request), order_id=order.pk)
        return _order_response(_visible_order(request, order.pk), status.HTTP_202_ACCEPTED)


class OrderEventListView(BackofficeAPIView):
    @extend_schema(responses=s.OrderEventSerializer(many=True))
    def get(self, request: Request, order_id: Any) -> Response:
        """The order's timeline, oldest first, to the microsecond."""
        order = _visible_order(request, order_id)
        events = OrderEvent.objects.filter(order_id=order.pk).select_related("actor").order_by("id")
        return Response(s.OrderEventSerializer(events, many=True).data)


class FillListView(ActorBoundMixin, ListAPIView):
    """Fills on the accounts the user may view, newest first."""

    serializer_class = s.FillSerializer
    filterset_class = FillFilter

    def get_queryset(self) -> QuerySet[Fill]:
        return Fill.objects.filter(order__account_id__in=visible_account_ids(self.request.user)).select_related(
            "order", "order__instrument"
        )
