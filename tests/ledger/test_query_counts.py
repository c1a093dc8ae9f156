"""The posting hot path has a fixed, small number of queries, whatever the history."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ledger import services
from apps.ledger.models import TransactionKind
from apps.ledger.selectors import balance_list, statement_page
from tests.conftest import cash

pytestmark = pytest.mark.django_db


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The queries a service sent, without the savepoints that the test's own transaction adds
    (in production the service's transaction is the outermost: BEGIN/COMMIT are not logged)."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_posting_a_transfer_takes_two_statements_and_locks_no_key(funded, make_account, actor):
    a, b = cash(funded), cash(make_account())
    with CaptureQueriesContext(connection) as captured:
        services.journal_transaction_post(
            actor=actor, kind=TransactionKind.TRANSFER, legs=[(a, "-1"), (b, "1")], idempotency_key="t"
        )
    sent = statements(captured)
    assert len(sent) == 2, sent  # lock the accounts; write transaction, entries, balances and queue
    assert "ORDER BY a.id FOR NO KEY UPDATE OF a" in sent[0]
    assert "INSERT INTO ledger_journalentry" in sent[1]


def test_an_idempotent_retry_takes_three_queries(funded, make_account, actor):
    legs = [(cash(funded), "-1"), (cash(make_account()), "1")]
    services.journal_transaction_post(actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key="t")
    with CaptureQueriesContext(connection) as captured:
        replay = services.journal_transaction_post(
            actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key="t"
        )
    assert replay.replayed
    assert len(statements(captured)) == 3  # lock, the write that skips on the key, the key lookup


def test_deposit_query_count(funded, actor):
    with CaptureQueriesContext(connection) as captured:
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key="d")
    assert len(statements(captured)) <= 5


def test_reads_are_constant_in_history_length(funded, actor, django_assert_num_queries):
    for i in range(20):
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key=f"d{i}")
    with django_assert_num_queries(1):
        balances = balance_list(trading_account_id=funded.pk)
    assert balances[0].available == 1020
    ledger_account_id = cash(funded).pk
    with django_assert_num_queries(1):
        page = statement_page(ledger_account_id=ledger_account_id, after_version=10, limit=5)
        assert [e.transaction.kind for e in page] == ["deposit"] * 5
