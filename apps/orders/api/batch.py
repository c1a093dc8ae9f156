"""Batch order entry: ``POST /api/v1/orders/batch/``. Thin: the envelope and each item's shape
are checked here, visibility and trade permission per account in one query, every decision in
``order_place_batch`` (one transaction for the whole batch)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.selectors import accounts_get_visible
from apps.core.api.base import BackofficeAPIView, OrderBatchThrottle, actor_of, body
from apps.core.api.exception_handler import problem_body
from apps.core.api.schema import ProblemSerializer
from apps.core.errors import ApplicationError, Forbidden, NotFound
from apps.orders import services
from apps.orders.api import serializers as s
from apps.orders.api.views import order_terms
from apps.orders.batch import OrderRequest, Placed
from apps.orders.state import Status

Answer = dict[str, Any]

BATCH_EXAMPLES = [
    OpenApiExample(
        "Two limit buys",
        request_only=True,
        value={
            "orders": [
                {
                    "account": 1,
                    "symbol": "AAPL",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "10",
                    "limit_price": "189.00",
                    "client_order_id": "basket-7-1",
                },
                {
                    "account": 1,
                    "symbol": "MSFT",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "5",
                    "limit_price": "410.00",
                    "client_order_id": "basket-7-2",
                },
            ]
        },
    ),
    OpenApiExample(
        "One accepted, one rejected by risk",
        response_only=True,
        status_codes=["200"],
        value={
            "results": [
                {"status": 201, "order": {"id": 41, "client_order_id": "basket-7-1", "status": "pending_new"}},
                {
                    "status": 422,
                    "problem": {
                        "type": "https://backoffice.example/problems/insufficient_buying_power",
                        "title": "Order rejected",
                        "status": 422,
                        "detail": "Buying power 100.00 USD is short of 2051.03 USD.",
                        "code": "insufficient_buying_power",
                        "order_id": 42,
                    },
                },
            ]
        },
    ),
]


class OrderBatchView(BackofficeAPIView):
    throttle_classes = [*BackofficeAPIView.throttle_classes, OrderBatchThrottle]

    @extend_schema(
        request=s.OrderBatchRequestSchema,
        responses={
            200: OpenApiResponse(s.OrderBatchResponseSerializer, description="One answer per order, in order."),
            400: OpenApiResponse(ProblemSerializer, description="Not a batch: `orders` missing, empty or over 500."),
            429: OpenApiResponse(ProblemSerializer, description="The batch would overdraw the order-entry budget."),
        },
        examples=BATCH_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        """Place up to 500 orders in one transaction. Each order is answered exactly as
        `POST /orders/` would answer it (201, 200 for a replay, 409, 422 with `code` and
        `order_id`, 404, 403, 400), in request order; one order's error never rejects another.
        The order-entry throttle counts each order of the batch."""
        items = body(s.OrderBatchSerializer, request)["orders"]
        answers: list[Answer | None] = [None] * len(items)
        shaped: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(items):
            serializer = s.OrderCreateSerializer(data=item)
            if serializer.is_valid():
                shaped.append((index, dict(serializer.validated_data)))
            else:
                errors = serializer.errors if isinstance(item, dict) else {"non_field_errors": ["Expected an object."]}
                answers[index] = _problem(
                    400, "invalid", "Invalid input", "The order has invalid fields; see errors.", errors=errors
                )
        accounts = accounts_get_visible(request.user, (data["account"] for _, data in shaped))  # type: ignore[arg-type]
        requests: list[tuple[int, OrderRequest]] = []
        for index, data in shaped:
            account = accounts.get(data["account"])
            if account is None:
                answers[index] = _error(NotFound("No such trading account.", code="account_not_found"))
            elif not account.can_trade:  # type: ignore[attr-defined]
                answers[index] = _error(
                    Forbidden("You may view this account but not trade on it.", code="trade_not_permitted")
                )
            else:
                requests.append((index, OrderRequest(**order_terms(account, data))))
        placed = services.order_place_batch(actor=actor_of(request), requests=[r for _, r in requests])
        for (index, _), answer in zip(requests, placed, strict=True):
            answers[index] = _answer(answer)
        return Response({"results": answers}, status=status.HTTP_200_OK)


def _answer(placed: Placed) -> Answer:
    if placed.error is not None:
        return _error(placed.error)
    order = placed.order
    assert order is not None
    if order.status == Status.REJECTED:
        detail = order.reject_detail or "The order was rejected."
        return _problem(422, order.reject_reason, "Order rejected", detail, order_id=order.pk)
    code = status.HTTP_200_OK if getattr(order, "replayed", False) else status.HTTP_201_CREATED
    return {"status": code, "order": s.OrderSerializer(order).data}


def _error(exc: ApplicationError) -> Answer:
    return _problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)


def _problem(status_code: int, code: str, title: str, detail: str, **extra: Any) -> Answer:
    return {"status": status_code, "problem": problem_body(status_code, code, title, detail, **extra)}
