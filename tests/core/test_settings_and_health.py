"""Production settings fail closed; the health probe answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAFE = {
    "DJANGO_SECRET_KEY": "x" * 64,
    "DATABASE_URL": "postgresql://u@db.example/prod",
    "CELERY_BROKER_URL": "amqp://broker.example//",
    "REDIS_URL": "redis://cache.example:6379/0",
    "DJANGO_ALLOWED_HOSTS": "backoffice.example",
    "EMAIL_HOST": "smtp.example",
}


def load_production(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "REDIS_URL", "EMAIL_"))
    }
    return subprocess.run(
        [sys.executable, "-c", "import config.settings.production"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_load_with_safe_values():
    result = load_production(SAFE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": ""}, "CELERY_BROKER_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"EMAIL_HOST": ""}, "EMAIL_HOST"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "PostgreSQL only"),
    ],
)
def test_production_settings_refuse_unsafe_values(override, message):
    result = load_production({**SAFE, **override})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db
def test_health(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["X-Correlation-ID"]


def test_with_db_keeps_the_callers_settings_choice():
    """``make test`` runs pytest through scripts/with_db.py: the launcher must not hand pytest
    the local settings (its own import of the config package defaults them), or the suite would
    run with DEBUG on, slow password hashing and the filesystem broker."""
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    clean["DATABASE_URL"] = clean.get("DATABASE_URL") or "postgresql://unused@127.0.0.1/unused"
    show = "import os; print(os.environ.get('DJANGO_SETTINGS_MODULE'))"
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parents[2] / "scripts" / "with_db.py"),
            sys.executable,
            "-c",
            show,
        ],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "None"


def test_the_service_pools_its_connections_unless_told_not_to():
    from config.settings.base import database_settings

    pooled = database_settings("postgresql://u@db.example/prod", pool=True)
    assert pooled["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 16}  # type: ignore[index]
    assert (pooled["CONN_MAX_AGE"], pooled["CONN_HEALTH_CHECKS"]) == (0, False)  # Django requires it with a pool
    plain = database_settings("postgresql://u@db.example/prod")
    assert "pool" not in plain["OPTIONS"]  # type: ignore[operator]
    script = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('pool'))"
    for value, expected in (("", "{'min_size': 1, 'max_size': 16}"), ("false", "None")):
        env = {**SAFE, "DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_POOL": value}
        if not value:
            env.pop("DATABASE_POOL")
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "REDIS_", "EMAIL_"))
        }
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stdout.strip().splitlines()[-1:] == [expected], done.stderr[-2000:]
