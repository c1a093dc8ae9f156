"""Security events: log-ins, failed log-ins, log-outs and API token issues, recorded once each
in the append-only ``compliance_securityevent`` table."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.compliance.models import SecurityEvent
from apps.core import context
from apps.core.middleware import client_ip


def _channel(request: Any) -> str:
    path = getattr(request, "path", "") or ""
    return "api" if path.startswith("/api/") else "admin" if path.startswith("/admin/") else "other"


def security_event_record(*, kind: str, request: Any = None, user: Any = None, username: str = "") -> SecurityEvent:
    """Record one security event. ``request`` gives the channel, address and user agent; the
    user name is kept as given (for failed attempts, the name that was tried)."""
    ctx = context.current()
    meta = getattr(request, "META", {}) if request is not None else {}
    if user is not None and not username:
        username = user.get_username()
    return SecurityEvent.objects.create(
        kind=kind,
        user=user if user is not None and getattr(user, "pk", None) else None,
        username=(username or "")[:150],
        channel=_channel(request),
        source_ip=(client_ip(request) if request is not None else None) or ctx.source_ip,
        user_agent=str(meta.get("HTTP_USER_AGENT", ""))[:256],
        correlation_id=ctx.correlation_id,
        at=timezone.now(),
    )
