"""Binds the request context (correlation id, source IP) for the duration of a request, and
decides the client's address: the one function every use of it goes through (the request
context, hence order events and audit-log entries; security events; log-in lockouts; API
throttles)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core import context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _address(value: str) -> str | None:
    """``value`` as a normalised IP address (a port, ``1.2.3.4:80`` or ``[::1]:80``, is
    dropped), or None when it is not one."""
    value = value.strip()
    candidates = [value]
    if value.startswith("[") and "]" in value:
        candidates.append(value[1 : value.index("]")])
    elif value.count(":") == 1:
        candidates.append(value.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_ip(request: HttpRequest | Any) -> str | None:
    """The client's address. With ``TRUSTED_PROXY_COUNT`` = 0 (the default), ``REMOTE_ADDR``:
    ``X-Forwarded-For`` is anyone's to write and is ignored. Behind N trusted proxies, each of
    which appends the address it received the request from, the client's address is the Nth
    entry of ``X-Forwarded-For`` from the right (entries further left were written by the
    client). A header with fewer than N entries (a request that did not come through every
    proxy), or an entry that is not an IP address, gives ``REMOTE_ADDR``.

    Takes a Django ``HttpRequest`` or a DRF ``Request``."""
    meta = request.META
    remote = _address(str(meta.get("REMOTE_ADDR") or ""))
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    header = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    entries = header.split(",") if header.strip() else []
    if len(entries) < proxies:
        return remote
    return _address(entries[-proxies]) or remote


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


class AuditlogMiddleware(_AuditlogMiddleware):
    """django-auditlog's middleware, with the client's address decided by :func:`client_ip`
    (its own takes the left-most ``X-Forwarded-For`` entry, which the client writes)."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        if settings.AUDITLOG_DISABLE_REMOTE_ADDR:
            return None
        return client_ip(request)
