"""Account endpoints: accounts, balances, positions, ledger lines, cash movements, grants and
the account's trading state. Thin: parse, call one service or selector, present."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.models import TradingAccount
from apps.accounts.permissions import IsCompliance, IsOperations, accounts_visible_to
from apps.accounts.selectors import account_get_visible
from apps.core.api.base import ActorBoundMixin, BackofficeAPIView, actor_of, body
from apps.core.api.pagination import OldestFirstPagination
from apps.core.errors import NotFound, ValidationError
from apps.ledger import selectors as ledger_selectors
from apps.ledger import services as ledger_services
from apps.orders.selectors import position_list
from apps.risk import services as risk_services
from apps.risk.api.serializers import TradingStateInputSerializer, TradingStateSerializer
from apps.users.models import User


def visible_account(request: Request, account_id: Any) -> TradingAccount:
    """The account, if the user may view it; 404 otherwise (no existence leak)."""
    account = account_get_visible(request.user, account_id)  # type: ignore[arg-type]
    if account is None:
        raise NotFound("No such trading account.", code="account_not_found")
    return account


class AccountListView(ActorBoundMixin, ListAPIView):
    """The accounts the user may view; operations open new ones."""

    serializer_class = s.AccountSerializer
    pagination_class = OldestFirstPagination

    def get_queryset(self) -> QuerySet[TradingAccount]:
        return accounts_visible_to(self.request.user).prefetch_related("owners")

    def get_permissions(self) -> Any:
        if self.request.method == "POST":
            return [IsOperations()]
        return super().get_permissions()

    @extend_schema(request=s.AccountCreateSerializer, responses={201: s.AccountSerializer})
    def post(self, request: Request) -> Response:
        data = body(s.AccountCreateSerializer, request)
        owner = None
        if data.get("owner"):
            owner = User.objects.filter(username=data["owner"], is_active=True).first()
            if owner is None:
                raise ValidationError(f"No active user {data['owner']!r}.", code="unknown_user", field="owner")
        account = services.trading_account_create(
            actor=actor_of(request), name=data["name"], base_currency=data["base_currency"], owner=owner
        )
        account = TradingAccount.objects.prefetch_related("owners").get(pk=account.pk)
        return Response(s.AccountSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetailView(BackofficeAPIView):
    @extend_schema(responses=s.AccountSerializer)
    def get(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        return Response(s.AccountSerializer(account).data)


class BalanceListView(BackofficeAPIView):
    @extend_schema(responses=s.BalanceSerializer(many=True))
    def get(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        balances = [b for b in ledger_selectors.balance_list(trading_account_id=account.pk) if b.kind == "currency"]
        return Response(s.BalanceSerializer(balances, many=True).data)


class PositionListView(BackofficeAPIView):
    @extend_schema(responses=s.PositionSerializer(many=True))
    def get(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        return Response(s.PositionSerializer(position_list(account_id=account.pk), many=True).data)


def _encode_position(position: dict[int, int]) -> str:
    raw = json.dumps({str(k): v for k, v in sorted(position.items())}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_position(cursor: str) -> dict[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or len(data) > 1000:
            raise ValueError
        position = {int(k): int(v) for k, v in data.items()}
        if any(k <= 0 or v <= 0 or v >= 2**63 for k, v in position.items()):
            raise ValueError
        return position
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("The cursor is not valid.", code="invalid_cursor", field="cursor") from None


class LedgerView(BackofficeAPIView):
    """The account's ledger lines, newest first, keyset-paginated (forward only: follow ``next``)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="The `next` link's cursor."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 500},
                description="Lines per page (1-500, default 50).",
            ),
            OpenApiParameter("asset", str, description="Only this asset (currency or symbol)."),
        ],
        responses=s.LedgerPageSerializer,
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        params = request.query_params
        cursor = params.get("cursor")
        before = _decode_position(cursor) if cursor else None
        limit_text = params.get("limit", "50")
        if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= 500:
            raise ValidationError("limit must be an integer from 1 to 500.", code="invalid_limit", field="limit")
        if "\x00" in params.get("asset", ""):
            raise ValidationError("asset must not contain NUL characters.", code="invalid_asset", field="asset")
        page = ledger_selectors.account_entries_page(
            trading_account_id=account.pk, before=before, limit=int(limit_text), asset_code=params.get("asset")
        )
        next_url = None
        if page.next_position is not None:
            query = params.copy()
            query["cursor"] = _encode_position(page.next_position)
            next_url = request.build_absolute_uri(request.path) + "?" + query.urlencode()
        results = s.LedgerLineSerializer(page.entries, many=True).data
        return Response({"next": next_url, "previous": None, "results": results})


class _CashMovementView(BackofficeAPIView):
    permission_classes = [IsOperations]
    service: Any = None

    def _post(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        data = body(s.CashMovementSerializer, request)
        txn = type(self).service(
            actor=actor_of(request),
            trading_account=account,
            currency=data["currency"],
            amount=data["amount"],
            idempotency_key=data["idempotency_key"],
            memo=data.get("memo", ""),
        )
        payload = {
            "pk": txn.pk,
            "kind": txn.kind,
            "currency": data["currency"],
            "amount": data["amount"],  # a replay matched the same terms, amount included
            "idempotency_key": txn.idempotency_key,
            "memo": txn.memo,
            "posted_at": txn.posted_at,
        }
        code = status.HTTP_200_OK if txn.replayed else status.HTTP_201_CREATED
        return Response(s.CashTransactionSerializer(payload).data, status=code)


class DepositView(_CashMovementView):
    service = staticmethod(ledger_services.cash_deposit)

    @extend_schema(
        request=s.CashMovementSerializer, responses={201: s.CashTransactionSerializer, 200: s.CashTransactionSerializer}
    )
    def post(self, request: Request, account_id: int) -> Response:
        """Credit cash. The same idempotency key again answers 200 with the first transaction."""
        return self._post(request, account_id)


class WithdrawalView(_CashMovementView):
    service = staticmethod(ledger_services.cash_withdraw)

    @extend_schema(
        request=s.CashMovementSerializer, responses={201: s.CashTransactionSerializer, 200: s.CashTransactionSerializer}
    )
    def post(self, request: Request, account_id: int) -> Response:
        """Debit available cash (never beyond it: 422 insufficient_funds)."""
        return self._post(request, account_id)


def _active_user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError(f"No user {username!r}.", code="unknown_user", field="username")
    return user


class GrantListView(BackofficeAPIView):
    permission_classes = [IsOperations]

    @extend_schema(request=s.GrantSerializer, responses={201: s.GrantResultSerializer})
    def post(self, request: Request, account_id: int) -> Response:
        account = visible_account(request, account_id)
        data = body(s.GrantSerializer, request)
        user = _active_user(data["username"])
        held = services.account_access_grant(
            actor=actor_of(request), account=account, user=user, permissions=data["permissions"]
        )
        return Response({"username": user.username, "permissions": held}, status=status.HTTP_201_CREATED)


class GrantDetailView(BackofficeAPIView):
    permission_classes = [IsOperations]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, account_id: int, username: str) -> Response:
        account = visible_account(request, account_id)
        user = User.objects.filter(username=username).first() if "\x00" not in username else None
        if user is None:
            raise NotFound(f"No user {username!r}.", code="unknown_user")
        services.account_access_revoke(actor=actor_of(request), account=account, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountTradingStateView(BackofficeAPIView):
    permission_classes = [IsCompliance]

    @extend_schema(request=TradingStateInputSerializer, responses=TradingStateSerializer)
    def put(self, request: Request, account_id: int) -> Response:
        """Halt, reduce or reactivate trading on this account; takes effect for the next order."""
        account = visible_account(request, account_id)
        data = body(TradingStateInputSerializer, request)
        row = risk_services.trading_state_set(
            actor=actor_of(request), state=data["state"], reason=data["reason"], account=account
        )
        return Response(TradingStateSerializer(row).data)
