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


def test_posting_a_transfer_takes_five_queries_and_locks_no_key(funded, make_account, actor):
    a, b = cash(funded), cash(make_account())
    with CaptureQueriesContext(connection) as captured:
        services.journal_transaction_post(
            actor=actor, kind=TransactionKind.TRANSFER, legs=[(a, "-1"), (b, "1")], idempotency_key="t"
        )
    sent = statements(captured)
    assert len(sent) <= 5, sent
    lock = next(q for q in sent if "FOR" in q and "UPDATE" in q)
    assert "FOR NO KEY UPDATE OF" in lock
    assert 'ORDER BY "ledger_ledgeraccount"."id"' in lock


def test_an_idempotent_retry_takes_two_queries(funded, make_account, actor):
    legs = [(cash(funded), "-1"), (cash(make_account()), "1")]
    services.journal_transaction_post(actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key="t")
    with CaptureQueriesContext(connection) as captured:
        replay = services.journal_transaction_post(
            actor=actor, kind=TransactionKind.TRANSFER, legs=legs, idempotency_key="t"
        )
    assert replay.replayed
    assert len(statements(captured)) == 2  # lock, then look the key up (a concurrent twin has committed)


def test_deposit_query_count(funded, actor):
    with CaptureQueriesContext(connection) as captured:
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key="d")
    assert len(statements(captured)) <= 8


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
