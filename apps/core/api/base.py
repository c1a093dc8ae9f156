"""Base classes for the API's views and serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from apps.core import context
from apps.users.models import User


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo never passes silently."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class OrderEntryThrottle(UserRateThrottle):
    """The stricter per-user budget for placing, replacing and canceling orders."""

    scope = "orders"


class ActorBoundMixin:
    """After authentication, record the acting user in the request context (audit rows and
    order events read it)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        user = request.user
        if getattr(user, "is_authenticated", False):
            context.set_actor(user.pk)


class BackofficeAPIView(ActorBoundMixin, APIView):
    pass


def body(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate the request body's shape; a malformed body raises (400) and nothing changes."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def actor_of(request: Request) -> User:
    """The authenticated user acting (the view's permissions guarantee one)."""
    user = request.user
    assert isinstance(user, User) and user.is_authenticated
    return user
