"""Django's own cache backends, counting gets, hits and misses under django-prometheus's metric
names (``django_cache_get_total``, ``django_cache_get_hits_total``, ...; ``backend`` label).
django-prometheus's own Redis backend needs django-redis, and its memory one answers the default
for a cached falsy value: these wrap Django's backends without changing what they answer."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import locmem, redis
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

_MISSING = object()


class _Metered:
    metrics_label = ""

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        django_cache_get_total.labels(backend=self.metrics_label).inc()
        try:
            value = super().get(key, _MISSING, version=version)  # type: ignore[misc]
        except Exception:
            django_cache_get_fail_total.labels(backend=self.metrics_label).inc()
            raise
        if value is _MISSING:
            django_cache_misses_total.labels(backend=self.metrics_label).inc()
            return default
        django_cache_hits_total.labels(backend=self.metrics_label).inc()
        return value


class RedisCache(_Metered, redis.RedisCache):
    metrics_label = "redis"


class LocMemCache(_Metered, locmem.LocMemCache):
    metrics_label = "locmem"
