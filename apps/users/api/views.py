"""JSON Web Token log-in and refresh, with failed log-ins throttled per user name and per
client address."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.compliance.models import SecurityEventKind
from apps.compliance.security import security_event_record
from apps.users import login_guard
from apps.users.models import User


class LoginRateThrottle(AnonRateThrottle):
    """Log-in attempts per client address, authenticated or not."""

    scope = "auth"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


@extend_schema(tags=["auth"])
class TokenObtainView(TokenObtainPairView):
    """``{username, password}`` → ``{access, refresh}``. Bad credentials answer 401."""

    throttle_classes = [LoginRateThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        username = username if isinstance(username, str) else ""
        if username and login_guard.locked_out(username):
            security_event_record(kind=SecurityEventKind.LOCKED_OUT, request=request, username=username)
            raise exceptions.Throttled(
                wait=settings.LOGIN_FAILURE_WINDOW_SECONDS,
                detail="Too many failed log-ins for this user; try again later.",
                code="login_locked",
            )
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            if username:
                login_guard.failure_record(username)
            raise
        if username:
            login_guard.failures_clear(username)
        user = User.objects.filter(username=username).first()
        security_event_record(kind=SecurityEventKind.TOKEN_ISSUED, request=request, user=user, username=username)
        return response


@extend_schema(tags=["auth"])
class TokenRenewView(TokenRefreshView):
    """``{refresh}`` → ``{access}``."""

    throttle_classes = [LoginRateThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        user = None
        try:
            user_id = RefreshToken(request.data.get("refresh"), verify=False).get("user_id")
            user = User.objects.filter(pk=user_id).first() if user_id is not None else None
        except TokenError:
            pass
        security_event_record(kind=SecurityEventKind.TOKEN_REFRESHED, request=request, user=user)
        return response
