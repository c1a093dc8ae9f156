"""Binds the request context (correlation id, source IP) for the duration of a request."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core import context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Correlation-ID", "")
        correlation_id = incoming if _SAFE_ID.match(incoming) else context.new_correlation_id()
        user = getattr(request, "user", None)  # the session user (the API sets its token's user later)
        actor_id = user.pk if user is not None and user.is_authenticated else None
        ctx = context.RequestContext(correlation_id=correlation_id, source_ip=client_ip(request), actor_id=actor_id)
        with context.bind(ctx):
            response = self.get_response(request)
        response["X-Correlation-ID"] = correlation_id
        return response
