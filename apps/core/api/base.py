"""Base classes for the API's views and serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core import context
from apps.core.api.throttling import UserRateThrottle
from apps.users.models import User

# JSON types the wire must carry for these fields: DRF would coerce 5 to "5" and "5" to 5.
_WIRE_TYPES: tuple[tuple[type[serializers.Field], type, str], ...] = (
    (serializers.CharField, str, "A string is required."),
    (serializers.IntegerField, int, "An integer is required."),
)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo never passes silently, and values of the wrong
    JSON type (a number for a text field, a string or a fraction for an integer field)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                value = data.get(name)
                if value is None or field.read_only:
                    continue
                for field_class, wire_type, message in _WIRE_TYPES:
                    if isinstance(field, field_class) and (not isinstance(value, wire_type) or isinstance(value, bool)):
                        errors[name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class OrderEntryThrottle(UserRateThrottle):
    """The stricter per-user budget for placing, replacing and canceling orders."""

    scope = "orders"


class OrderBatchThrottle(OrderEntryThrottle):
    """The same budget for a batch of orders, which spends one unit per order it carries (a
    batch that would overdraw the budget is refused whole: 429, nothing placed)."""

    duration: int  # set by SimpleRateThrottle from the rate
    num_requests: int

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        orders = request.data.get("orders") if isinstance(request.data, dict) else None
        self.weight = max(len(orders), 1) if isinstance(orders, list) else 1
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) + self.weight > self.num_requests:
            return self.throttle_failure()
        self.history[0:0] = [self.now] * self.weight
        self.cache.set(self.key, self.history, self.duration)
        return True


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
