"""DRF's throttles, keyed on the client's address as :func:`apps.core.middleware.client_ip`
decides it (``TRUSTED_PROXY_COUNT``) rather than DRF's own reading of ``X-Forwarded-For``."""

from __future__ import annotations

from typing import Any

from rest_framework import throttling

from apps.core.middleware import client_ip


class ClientAddressMixin:
    def get_ident(self, request: Any) -> str:
        return client_ip(request) or ""


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle):
    pass
