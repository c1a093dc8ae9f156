"""Production settings: ``check --deploy`` is clean, and ``seed_demo`` refuses to run.

Each runs ``manage.py`` in a subprocess with the production settings and the safe environment of
``test_settings_and_health`` (with a secret key that looks random: ``x`` * 64 passes our start-up
check but not Django's security.W009). No database is reached: both end before one is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.core.test_settings_and_health import SAFE

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "REDIS_URL", "EMAIL_"))
    }
    env = {
        **clean,
        **SAFE,
        "DJANGO_SECRET_KEY": "k7#Qz!p2Lm9@vR4$wX8^tY6&uB3*nC5(eD1)fG0-hJ_iK+oA=Zs2",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
    }
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout, result.stdout + result.stderr


def test_seed_demo_refuses_to_run_with_production_settings() -> None:
    result = manage("seed_demo")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "seed_demo refuses to run here" in result.stderr and "DEMO_DATA_ALLOWED" in result.stderr
    assert "demo data ready" not in result.stdout
