"""Real Celery workers for tests: a subprocess on a real broker, connected to the test database.

The broker is ``CELERY_TEST_BROKER_URL`` if set, else the local RabbitMQ when it answers, else
kombu's filesystem transport in the test's temporary folder (a fresh machine has no broker
server). Each worker gets its own queue name, so no other worker on the machine can take its
messages.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from config.celery_app import app as celery_app
from config.embedded import database_url

BASE_DIR = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 60


def _rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Broker:
    url: str
    options: dict[str, Any]
    env: dict[str, str]
    queue: str


def broker_for_tests(tmp_path: Path) -> Broker:
    queue = f"test-{uuid.uuid4().hex[:10]}"
    url = os.environ.get("CELERY_TEST_BROKER_URL") or (
        "amqp://guest:guest@127.0.0.1:5672//" if _rabbitmq_answers() else ""
    )
    if url and url != "filesystem://":
        return Broker(url, {}, {"CELERY_BROKER_URL": url}, queue)
    folder = tmp_path / "broker"
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    return Broker(
        "filesystem://", options, {"CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_DIR": str(folder)}, queue
    )


def database_url_for_tests() -> str:
    """This process's database URL, pointed at the database pytest-django created."""
    parts = urlsplit(database_url())
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    broker: Broker

    def send(self, task: Any, **kwargs: Any) -> str:
        """Publish ``task`` to this worker's queue through the real broker."""
        with celery_app.connection_for_write(self.broker.url, transport_options=self.broker.options) as conn:
            result = task.apply_async(kwargs=kwargs, connection=conn, queue=self.broker.queue)
        return str(result.id)

    def wait_for(self, pattern: str, *, seconds: float = WAIT_SECONDS) -> re.Match[str]:
        compiled = re.compile(pattern)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            match = compiled.search(text)
            if match:
                return match
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited with {self.process.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        pytest.fail(f"no {pattern!r} within {seconds}s; worker log:\n{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_worker(
    tmp_path: Path, broker: Broker, *, extra_env: dict[str, str] | None = None, pool: str = "solo"
) -> Worker:
    """Start a worker consuming ``broker``'s queue and wait until it is ready. Successive workers
    on one ``Broker`` share its queue, so a killed worker's unacknowledged messages go to the next."""
    log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
    env = {
        **os.environ,
        **broker.env,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
        # Tests send the relay themselves unless they ask for the loop (tests/pipeline/test_relay_loop.py).
        "BROKERS_RELAY_LOOP": "false",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        f"--pool={pool}",
        "--concurrency=1",
        "-Q",
        broker.queue,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "-l",
        "info",
        "-n",
        f"{broker.queue}-{uuid.uuid4().hex[:6]}@%h",  # workers sharing a queue need names of their own
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    worker = Worker(process, log, broker)
    try:
        worker.wait_for(r"\bready\.")
    except BaseException:
        worker.stop(kill=True)
        raise
    return worker


@contextmanager
def running_worker(tmp_path: Path, *, extra_env: dict[str, str] | None = None, pool: str = "solo") -> Iterator[Worker]:
    worker = start_worker(tmp_path, broker_for_tests(tmp_path), extra_env=extra_env, pool=pool)
    try:
        yield worker
    finally:
        worker.stop()
