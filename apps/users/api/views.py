"""JSON Web Token log-in and refresh, behind the log-in policy the admin's log-in form follows
too (apps/users/login_guard.py): attempts throttled per client address, failed log-ins counted
per user name. A refresh rotates the refresh token (the one presented is blacklisted)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.users import login_guard
from apps.users.models import User
from apps.users.signals import token_issued, token_refreshed


@extend_schema(tags=["auth"])
class TokenObtainView(TokenObtainPairView):
    """``{username, password}`` → ``{access, refresh}``. Bad credentials answer 401."""

    throttle_classes = [login_guard.LoginRateThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        username = username if isinstance(username, str) else ""
        try:
            login_guard.admit(request=request, username=username)
        except login_guard.LoginLocked as locked:
            raise exceptions.Throttled(
                wait=locked.wait, detail="Too many failed log-ins for this user; try again later.", code="login_locked"
            ) from None
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            if username:
                login_guard.failure_record(username)
            raise
        if username:
            login_guard.failures_clear(username)
        user = User.objects.filter(username=username).first()
        token_issued.send(sender=type(self), request=request, user=user, username=username)
        return response


@extend_schema(tags=["auth"])
class TokenRenewView(TokenRefreshView):
    """``{refresh}`` → ``{access, refresh}``: a new refresh token each time; the one presented is
    blacklisted, and presenting it again answers 401."""

    throttle_classes = [login_guard.LoginRateThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        user = None
        try:
            user_id = RefreshToken(request.data.get("refresh"), verify=False).get("user_id")
            user = User.objects.filter(pk=user_id).first() if user_id is not None else None
        except TokenError:
            pass
        token_refreshed.send(sender=type(self), request=request, user=user)
        return response
