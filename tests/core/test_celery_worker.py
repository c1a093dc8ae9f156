"""The Celery wiring end to end: a real ``celery -A config worker`` process, a real broker, the test database.

No eager mode. The broker is kombu's filesystem transport in a private temporary folder, so no
other worker (another engineer's ``make run``) can take the message. The settings only set the
filesystem folders when ``CELERY_BROKER_URL`` is unset, so the worker gets ``filesystem://`` and
runs in the temporary folder, where kombu's default folders (``data_in``, ``data_out``,
``control``) are relative to its working directory; this process publishes into the same folders.

The worker connects to the test database (pytest-django's renamed database) through a
``DATABASE_URL`` whose path is that name. ``ledger.verify`` has no result backend; the worker logs
each task's return value, and the number of ledger accounts it counted proves that it read the
rows this test committed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from apps.ledger.models import LedgerAccount
from apps.ledger.tasks import verify_ledger_task
from config.celery_app import app as celery_app
from config.embedded import database_url
from tests.factories import TradingAccountFactory

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def _test_database_url() -> str:
    """This process's database URL, pointed at the test database pytest-django created."""
    parts = urlsplit(database_url())
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


def _wait_for(log: Path, pattern: re.Pattern[str], worker: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = pattern.search(text)
        if match:
            return match
        if worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode}:\n{text[-4000:]}")
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:]
    pytest.fail(f"no {pattern.pattern!r} within {WAIT_SECONDS}s; worker log:\n{tail}")


def _enqueue_verify(broker_dir: Path) -> str:
    options = {
        "data_folder_out": str(broker_dir / "data_in"),  # where the worker reads
        "data_folder_in": str(broker_dir / "data_out"),
        "control_folder": str(broker_dir / "control"),
        "processed_folder": str(broker_dir / "processed"),
        "store_processed": False,
    }
    with celery_app.connection_for_write("filesystem://", transport_options=options) as conn:
        result = verify_ledger_task.apply_async(connection=conn)
    return str(result.id)


def _succeeded(task_id: str) -> re.Pattern[str]:
    return re.compile(rf"Task ledger\.verify\[{re.escape(task_id)}\] succeeded in [\d.]+s: (\{{.*\}})")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_ledger_verify_on_the_test_database(tmp_path: Path) -> None:
    broker_dir = tmp_path / "broker"
    for name in ("data_in", "data_out", "control", "processed"):
        (broker_dir / name).mkdir(parents=True)
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": "filesystem://",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
    }
    TradingAccountFactory()  # committed: the worker must see its ledger accounts
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1"]
    command += ["--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "info"]
    command += ["-n", f"test-{uuid.uuid4().hex[:8]}@%h"]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, cwd=broker_dir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(log, re.compile(r"\bready\."), worker)

        expected = LedgerAccount.objects.count()
        report = _wait_for(log, _succeeded(_enqueue_verify(broker_dir)), worker).group(1)
        assert report == f"{{'ok': True, 'problems': 0, 'accounts': {expected}}}"

        TradingAccountFactory()  # two more ledger accounts, seen by the running worker at once
        expected_after = LedgerAccount.objects.count()
        assert expected_after == expected + 2
        report = _wait_for(log, _succeeded(_enqueue_verify(broker_dir)), worker).group(1)
        assert report == f"{{'ok': True, 'problems': 0, 'accounts': {expected_after}}}"
    finally:
        if worker.poll() is None:
            worker.terminate()  # warm shutdown
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
