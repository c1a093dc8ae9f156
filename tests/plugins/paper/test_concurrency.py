"""The paper venue under real concurrency: threads released together, each on its own
connection, committing for real (``transaction=True``)."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import connection

from apps.brokers.interface import FILL_TYPES, ExecType
from apps.instruments.services import instrument_create, reference_price_set
from plugins.paper.adapter import PaperBroker
from plugins.paper.config import PaperSettings
from plugins.paper.models import PaperOrder, PaperReport
from tests.brokers.contract import check_history
from tests.plugins.paper.test_simulator import limit

pytestmark = pytest.mark.django_db(transaction=True)


def together(count, work):
    """Run ``work(i)`` in ``count`` threads released at once; answer results or raise the first error."""
    barrier = threading.Barrier(count, timeout=30)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def acme(actor):
    instrument = instrument_create(
        actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1"
    )
    reference_price_set(actor=actor, instrument=instrument, price="100.00")
    return instrument


def test_concurrent_submits_of_one_ticket_open_one_order(acme, ticket):
    broker, order = PaperBroker(), ticket()
    answers = together(6, lambda i: list(broker.submit(order)))
    assert all(answer == answers[0] for answer in answers)
    assert [r.exec_type for r in answers[0]] == [ExecType.NEW, ExecType.FILL]
    assert PaperOrder.objects.count() == 1 and PaperReport.objects.count() == 2


def test_concurrent_polls_report_each_fill_once(acme, actor, ticket):
    broker = PaperBroker(PaperSettings(partial_fill_quantity=D(10)))
    orders = [ticket(**limit("99.00")) for _ in range(20)]
    for order in orders:
        broker.submit(order)
    reference_price_set(actor=actor, instrument=acme, price="98.00")
    polled = [r for answer in together(4, lambda i: broker.poll()) for r in answer]
    # At least once: concurrent polls may each hand out a report not yet acknowledged, but every
    # report was produced once (one row per exec id) and every copy handed out is the same.
    by_id = {}
    for report in polled:
        assert by_id.setdefault(report.exec_id, report) == report
    assert set(PaperReport.objects.values_list("exec_id", flat=True)) == set(by_id)
    fills = PaperReport.objects.filter(exec_type__in=FILL_TYPES)
    assert fills.count() == fills.values("exec_id").distinct().count() > 0
    for order in orders:
        check_history(order, broker.order_status(order))


def test_cancel_racing_a_poll_never_fills_a_canceled_order(acme, actor, ticket):
    broker = PaperBroker(PaperSettings(partial_fill_quantity=D(50)))
    orders = [ticket(**limit("99.00")) for _ in range(10)]
    for order in orders:
        broker.submit(order)
    reference_price_set(actor=actor, instrument=acme, price="98.00")

    def work(i):
        return broker.poll() if i == 0 else [r for order in orders for r in broker.cancel(order)]

    together(2, work)
    for order in orders:
        history = broker.order_status(order)
        check_history(order, history)
        ended = [r.exec_type for r in history if r.exec_type in (ExecType.CANCELED, ExecType.FILL)]
        assert len(ended) == 1
