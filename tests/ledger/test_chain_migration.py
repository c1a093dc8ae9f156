"""The migration that introduced the chain hashes the transactions numbered before it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.chain import GENESIS, content_hash, link_hash
from apps.ledger import services
from apps.ledger.chain import transaction_contents
from apps.ledger.models import JournalSequence
from apps.ledger.verification import verify

BEFORE = ("ledger", "0006_enum_checks")

#: the sequencer as it was before the chain: numbers only
OLD_ASSIGN = """
WITH batch AS (DELETE FROM ledger_unsequenced RETURNING transaction_id)
INSERT INTO ledger_journalsequence (sequence, transaction_id, assigned_at)
SELECT row_number() OVER (ORDER BY transaction_id), transaction_id, now() FROM batch
"""


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_links_numbered_before_the_chain_are_hashed_by_the_migration(funded, actor):
    for i in range(3):
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="2", idempotency_key=f"m{i}")
    # Going back to BEFORE also unapplies the other apps' migrations that depend on later ledger
    # ones: come back to every app's leaf, not only the ledger's, or they stay unapplied.
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(OLD_ASSIGN)
    finally:
        MigrationExecutor(connection).migrate(leaves)
    links = list(JournalSequence.objects.order_by("sequence"))
    assert [link.sequence for link in links] == [1, 2, 3, 4]
    with connection.cursor() as cursor:
        contents = transaction_contents(cursor, [link.transaction_id for link in links])
    previous = GENESIS
    for link in links:
        assert link.content_hash == content_hash(contents[link.transaction_id])
        previous = link_hash(sequence=link.sequence, previous=previous, content=link.content_hash)
        assert (link.chain_hash, link.hash_version) == (previous, 1)
    assert verify().ok
    with pytest.raises(DatabaseError, match="Cannot update"), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_journalsequence SET assigned_at = now()")  # append-only again
