"""Readiness checks: each component answers ``(ok, detail)``; none raises.

``database`` (a ``SELECT 1``), ``broker`` (a connection to the Celery broker, one try, a short
timeout), ``cache`` (a write and a read), ``beat`` (the heartbeat task's last run recent enough)
and ``sequencers`` (their backlogs within bounds). ``HEALTH_READY_REQUIRED`` names those whose
failure makes the instance not ready (503); the others are reported only.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from kombu import Connection

from apps.monitoring import selectors

logger = logging.getLogger(__name__)
#: user and password of a URL in an error message (a broker's), never shown
_CREDENTIALS = re.compile(r"://[^/@\s]*@")


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check(True)


def check_broker() -> Check:
    """One connection attempt to the Celery broker, bounded by ``HEALTH_BROKER_TIMEOUT_SECONDS``."""
    timeout = float(settings.HEALTH_BROKER_TIMEOUT_SECONDS)
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
    options.setdefault("max_retries", 0)
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=max(1, round(timeout)))
        transport = conn.transport_cls
    return Check(True, {"transport": str(transport)})


def check_cache() -> Check:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    found = cache.get(key)
    cache.delete(key)
    if found != "1":
        return Check(False, {"error": "a value written to the cache could not be read back"})
    return Check(True)


def check_beat() -> Check:
    """The heartbeat task's last run (as django-celery-beat wrote it back) is recent enough."""
    bound = int(settings.HEALTH_BEAT_MAX_AGE_SECONDS)
    last = selectors.beat_last_run()
    if last is None:
        return Check(False, {"error": f"{settings.HEALTH_BEAT_TASK!r} never ran", "max_age_seconds": bound})
    age = (timezone.now() - last).total_seconds()
    return Check(age <= bound, {"age_seconds": round(age, 3), "max_age_seconds": bound})


def check_sequencers() -> Check:
    """Each sequencer's backlog (count and oldest age) within its bounds."""
    max_backlog = int(settings.HEALTH_SEQUENCER_MAX_BACKLOG)
    max_age = int(settings.HEALTH_SEQUENCER_MAX_AGE_SECONDS)
    detail: dict[str, Any] = {"max_backlog": max_backlog, "max_age_seconds": max_age}
    ok = True
    for lag in selectors.sequencer_lag_list():
        age = lag.oldest_age.total_seconds() if lag.oldest_age else 0.0
        detail[lag.chain] = {"backlog": lag.waiting, "oldest_age_seconds": round(age, 3)}
        ok = ok and lag.waiting <= max_backlog and age <= max_age
    return Check(ok, detail)


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "beat": check_beat,
    "sequencers": check_sequencers,
}


def readiness() -> tuple[bool, dict[str, Any]]:
    """Every component's state; ready when every required one is ok."""
    required = set(settings.HEALTH_READY_REQUIRED)
    components: dict[str, Any] = {}
    ready = True
    for name, check in CHECKS.items():
        try:
            result = check()
        except Exception as exc:
            logger.warning("readiness: %s failed", name, exc_info=True)
            result = Check(False, {"error": _CREDENTIALS.sub("://***@", f"{type(exc).__name__}: {exc}")[:500]})
        components[name] = {"status": "ok" if result.ok else "failing", "required": name in required, **result.detail}
        if not result.ok and name in required:
            ready = False
    return ready, components
