"""The Grafana dashboard and the Prometheus alert rules only name metrics we export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django_prometheus.middleware import Metrics
from prometheus_client import REGISTRY

from apps.brokers import metrics as broker_metrics  # noqa: F401 - registers the relay and intake histograms
from apps.monitoring import task_metrics  # noqa: F401 - registers the task metrics
from apps.monitoring.views import business_registry

DOCKER = Path(__file__).resolve().parents[2] / "docker"
_NAME = re.compile(r"\b(?:backoffice|django|process|python)_[A-Za-z0-9_:]+")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported() -> set[str]:
    Metrics.get_instance()  # the request metrics (registered when the middleware first loads)
    names: set[str] = set()
    for registry in (REGISTRY, business_registry()):
        for family in registry.collect():
            names.add(family.name)
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
            names.update(sample.name for sample in family.samples)
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DOCKER / "grafana" / "backoffice-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DOCKER / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_the_alerts_use_is_exported():
    names = exported()
    expressions = dashboard_expressions() + alert_expressions()
    used = {name for expr in expressions for name in _NAME.findall(expr)}
    assert len(used) >= 20
    assert used - names == set()
    # every business family is on the dashboard
    business = {family.name for family in business_registry().collect()}
    assert business - {name for expr in dashboard_expressions() for name in _NAME.findall(expr)} == set()


def test_the_scrape_config_loads_the_rules():
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"backoffice-web", "backoffice-worker"}
