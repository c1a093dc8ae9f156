"""/metrics (Prometheus), /health/live and /health/ready.

/metrics exports this process's metrics (django-prometheus: requests, database, cache; the relay
and intake histograms where they ran here), or, with ``PROMETHEUS_MULTIPROC_DIR`` set, those of
every process writing to that directory (gunicorn's workers), plus the business metrics
(``collector.BusinessCollector``, read from the database at each scrape). Unless
``METRICS_OPEN``, only a client in ``METRICS_ALLOWED_IPS`` or a request bearing
``METRICS_TOKEN`` gets them; anyone else 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from apps.core.middleware import client_ip
from apps.monitoring import health
from apps.monitoring.collector import BusinessCollector


def metrics_allowed(request: HttpRequest) -> bool:
    """``METRICS_OPEN``; else the client's address in ``METRICS_ALLOWED_IPS`` (CIDRs or single
    addresses), or ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time)."""
    if settings.METRICS_OPEN:
        return True
    token = str(settings.METRICS_TOKEN or "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    address = client_ip(request)
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(str(allowed).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def process_registry() -> CollectorRegistry:
    """The registry of this process, or of every process of the multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def business_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BusinessCollector())
    return registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    body = generate_latest(process_registry()) + generate_latest(business_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is touched (a dependency's outage never restarts it)."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Every component's state; 503 when a required one fails."""
    ok, components = health.readiness()
    return JsonResponse({"status": "ok" if ok else "failing", "components": components}, status=200 if ok else 503)
