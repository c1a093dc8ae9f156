"""The paper venue's batch submit: ticket by ticket the same answers as ``submit``, idempotent,
and one transaction with a constant number of statements whatever the batch's size."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.brokers.interface import BatchSubmit, ExecType
from plugins.paper.models import PaperOrder, PaperReport
from tests.plugins.paper.test_simulator import limit, rows

pytestmark = pytest.mark.django_db

KINDS = [
    {},  # market: NEW then FILL
    limit("95.00"),  # rests: NEW only
    {"symbol": "NOPE"},  # unknown symbol: REJECTED
    limit("99.00", time_in_force="ioc"),  # nothing fills: NEW, then the remainder canceled
    {"quantity": D("0")},  # not a valid quantity: REJECTED
    {"side": "sell", **limit("90.00")},  # a marketable sell: NEW then FILL
]


def test_each_ticket_is_answered_as_submit_would_answer_it(make_broker, acme, ticket):
    broker = make_broker(partial_fill_quantity="30")
    assert isinstance(broker, BatchSubmit)
    alone = [broker.submit(ticket(**kind)) for kind in KINDS]
    tickets = [ticket(**kind) for kind in KINDS]
    together = broker.submit_many(tickets)
    assert [rows(answer) for answer in together] == [rows(answer) for answer in alone]
    assert {r.exec_type for answer in together for r in answer} >= {ExecType.NEW, ExecType.REJECTED}
    for t, answer in zip(tickets, together, strict=True):
        assert [r.exec_id for r in answer] == [f"PAPER-{t.order_id}-{n}" for n in range(1, len(answer) + 1)]
        assert all(r.order_id == t.order_id for r in answer)
        assert list(broker.order_status(t)) == list(answer)  # stored before answered


def test_a_ticket_seen_before_answers_what_its_order_produced(make_broker, acme, ticket):
    broker = make_broker()
    first, second = ticket(), ticket(**limit("95.00"))
    answered = broker.submit_many([first, second])
    again = broker.submit_many([second, first, first])
    assert again == [answered[1], answered[0], answered[0]]
    assert PaperOrder.objects.count() == 2
    assert PaperReport.objects.count() == 3  # NEW and FILL, NEW: nothing produced twice


def test_a_batch_costs_the_same_statements_whatever_its_size(make_broker, acme, ticket):
    broker = make_broker()

    def statements(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            answers = broker.submit_many([ticket() for _ in range(count)])
        assert all([r.exec_type for r in a] == [ExecType.NEW, ExecType.FILL] for a in answers)
        return len(captured.captured_queries)

    assert statements(3) == statements(30)
