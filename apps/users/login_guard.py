"""Failed log-in counting: after ``LOGIN_FAILURE_LIMIT`` failures for one user name within the
window, that name is refused (429) until the window passes, whatever the password. Counters
live in the cache (Redis in production, shared by every process)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def locked_out(username: str) -> bool:
    return int(cache.get(_key(username), 0)) >= settings.LOGIN_FAILURE_LIMIT


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
