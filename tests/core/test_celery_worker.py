"""The Celery wiring end to end: a real ``celery -A config worker`` process, a real broker
(RabbitMQ when it answers, else kombu's filesystem transport in a private folder; see
tests/workers.py), connected to the test database. No eager mode.

``ledger.verify`` has no result backend; the worker logs each task's return value, and the
number of ledger accounts it counted proves that it read the rows this test committed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.ledger.models import LedgerAccount
from apps.ledger.tasks import verify_ledger_task
from tests.factories import TradingAccountFactory
from tests.workers import running_worker


def _succeeded(task_id: str) -> str:
    return rf"Task ledger\.verify\[{re.escape(task_id)}\] succeeded in [\d.]+s: (\{{.*\}})"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_ledger_verify_on_the_test_database(tmp_path: Path) -> None:
    TradingAccountFactory()  # committed: the worker must see its ledger accounts
    with running_worker(tmp_path) as worker:
        expected = LedgerAccount.objects.count()
        report = worker.wait_for(_succeeded(worker.send(verify_ledger_task))).group(1)
        assert report == f"{{'ok': True, 'problems': 0, 'accounts': {expected}}}"

        TradingAccountFactory()  # two more ledger accounts, seen by the running worker at once
        expected_after = LedgerAccount.objects.count()
        assert expected_after == expected + 2
        report = worker.wait_for(_succeeded(worker.send(verify_ledger_task))).group(1)
        assert report == f"{{'ok': True, 'problems': 0, 'accounts': {expected_after}}}"


def test_each_kind_of_work_has_its_own_queue():
    """Workers can be scaled per queue (``celery worker -Q brokers``); one without -Q takes all."""
    from config.celery_app import app

    declared = {"celery", "brokers", "sequencers", "scheduled"}
    assert set(app.conf.task_queues) == declared  # what a worker without -Q consumes
    assert declared <= set(app.amqp.queues)  # (other tests add queues of their own workers)
    routes = {
        "brokers.relay": "brokers",
        "brokers.poll": "brokers",
        "brokers.resync": "brokers",
        "ledger.sequence": "sequencers",
        "orders.sequence_events": "sequencers",
        "ledger.verify": "scheduled",
        "compliance.reconcile": "scheduled",
        "compliance.verify_audit": "scheduled",
        "orders.expire_day_orders": "scheduled",
    }
    assert {task: app.amqp.router.route({}, task)["queue"].name for task in routes} == routes
    app.autodiscover_tasks(force=True)
    assert set(routes) <= set(app.tasks)  # every routed name is a real task
