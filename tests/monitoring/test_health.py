"""/health/live touches nothing; /health/ready reports each component and answers 503 when a
required one fails. The old /health/ stays as it was (scripts/run.py, compose)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from redis.backoff import NoBackoff
from redis.retry import Retry

CLOSED = "127.0.0.1:1"  # nothing listens there: connection refused at once


def test_liveness_touches_no_dependency(client, settings):
    # no django_db mark: a query would fail the test; a dead broker does not matter
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@{CLOSED}//"
    response = client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_ready_reports_every_component(client):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["components"]) == {"database", "broker", "cache", "beat", "sequencers"}
    for name in ("database", "broker", "cache", "sequencers"):
        assert body["components"][name]["status"] == "ok", body
    # no beat in tests: reported, but not required by default
    assert body["components"]["beat"] == {
        "status": "failing",
        "required": False,
        "error": "'ledger: number committed transactions' never ran",
        "max_age_seconds": 300,
    }


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_is_not_ready(client, settings):
    settings.CELERY_BROKER_URL = f"amqp://guest:hunter2@{CLOSED}//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.HEALTH_BROKER_TIMEOUT_SECONDS = 1
    response = client.get("/health/ready")
    assert response.status_code == 503
    broker = response.json()["components"]["broker"]
    assert (broker["status"], broker["required"]) == ("failing", True)
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_a_cache_that_does_not_answer_is_not_ready(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "apps.monitoring.cache.RedisCache",
            "LOCATION": f"redis://{CLOSED}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "retry": Retry(NoBackoff(), 0)},  # fail at once
        }
    }
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["components"]["cache"]["status"] == "failing"


@pytest.mark.django_db
def test_beat_heartbeat(client, settings):
    settings.HEALTH_READY_REQUIRED = ["database", "beat"]
    every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name=settings.HEALTH_BEAT_TASK, task="ledger.sequence", interval=every, last_run_at=timezone.now()
    )
    response = client.get("/health/ready")
    assert (response.status_code, response.json()["components"]["beat"]["status"]) == (200, "ok")
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(seconds=301))
    response = client.get("/health/ready")
    assert response.status_code == 503
    beat = response.json()["components"]["beat"]
    assert (beat["status"], beat["max_age_seconds"]) == ("failing", 300) and beat["age_seconds"] > 300


@pytest.mark.django_db
def test_sequencer_lag_beyond_its_bounds(client, settings, funded):
    # the deposit's journal transaction is never committed in a test: it waits for its number
    settings.HEALTH_READY_REQUIRED = ["sequencers"]
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["components"]["sequencers"]["ledger"]["backlog"] >= 1
    settings.HEALTH_SEQUENCER_MAX_BACKLOG = 0
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["components"]["sequencers"]["status"] == "failing"
    settings.HEALTH_SEQUENCER_MAX_BACKLOG = 10
    settings.HEALTH_SEQUENCER_MAX_AGE_SECONDS = -1  # any waiting record is too old
    assert client.get("/health/ready").status_code == 503


@pytest.mark.django_db
def test_the_old_probe_answers_as_before(client):
    response = client.get("/health/")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})
