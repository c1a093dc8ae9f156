"""The log-in policy of both doors, the admin's log-in form (apps/users/forms.py) and the API's
token view (apps/users/api/views.py):

- Attempts per client address are limited by one throttle (the ``auth`` rate), shared by the
  two doors and the token refresh.
- Failed log-ins are counted per user name: after ``LOGIN_FAILURE_LIMIT`` failures within
  ``LOGIN_FAILURE_WINDOW_SECONDS``, that name is refused, whatever the password, until the
  window passes. One counter for both doors; a successful log-in clears it.
- A refusal by lock sends ``login_locked_out`` (a ``locked_out`` security event); failed
  authentications are recorded through Django's ``user_login_failed``.

Counters live in the cache (Redis in production, shared by every process)."""

from __future__ import annotations

import hashlib
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache

from apps.core.api.throttling import AnonRateThrottle
from apps.users.signals import login_locked_out


class LoginRateThrottle(AnonRateThrottle):
    """Log-in attempts per client address, authenticated or not."""

    scope = "auth"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginLocked(Exception):
    """The user name is locked out; ``wait``: seconds until it may try again (at most)."""

    def __init__(self, wait: int) -> None:
        super().__init__("Too many failed log-ins for this user; try again later.")
        self.wait = wait


def address_throttle_wait(request: Any) -> int | None:
    """Spend one log-in attempt of the request's client address: None when allowed, else the
    seconds to wait. (The API's views do the same through ``throttle_classes``.)"""
    throttle = LoginRateThrottle()
    if throttle.allow_request(request, cast(Any, None)):  # no view: the key is the address only
        return None
    wait = throttle.wait()
    return max(1, round(wait)) if wait is not None else 1


def _key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def locked_out(username: str) -> bool:
    return int(cache.get(_key(username), 0)) >= settings.LOGIN_FAILURE_LIMIT


def admit(*, request: Any, username: str) -> None:
    """Raise :class:`LoginLocked` (and send ``login_locked_out``) when ``username`` is locked out."""
    if username and locked_out(username):
        login_locked_out.send(sender=LoginLocked, request=request, username=username)
        raise LoginLocked(wait=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def failure_record(username: str) -> int:
    key = _key(username)
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def failures_clear(username: str) -> None:
    cache.delete(_key(username))
