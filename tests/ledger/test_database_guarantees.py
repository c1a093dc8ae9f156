"""PostgreSQL itself refuses what the services promise never to do."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.actors import system_actor
from apps.ledger import services
from apps.ledger.models import JournalEntry, JournalSequence, JournalTransaction, LedgerAccount, Purpose
from apps.ledger.sequencing import sequence_assign
from apps.ledger.verification import verify
from tests.conftest import cash


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_journalentry SET amount = amount * 2",
        "DELETE FROM ledger_journalentry",
        "UPDATE ledger_journaltransaction SET memo = 'edited'",
        "DELETE FROM ledger_journaltransaction",
    ],
)
def test_entries_and_transactions_refuse_update_and_delete(funded, statement):
    with pytest.raises(DatabaseError, match=r"Cannot (update|delete)"), transaction.atomic():
        sql(statement)
    assert verify().ok


@pytest.mark.django_db
def test_ledger_account_refuses_negative_available_balance(funded):
    with pytest.raises(IntegrityError, match="ledger_account_no_negative_balance"), transaction.atomic():
        sql("UPDATE ledger_ledgeraccount SET balance = -1 WHERE id = %s", [cash(funded).pk])
    assert cash(funded).balance == Decimal("1000.00")


@pytest.mark.django_db
def test_ledger_account_refuses_identity_change_and_delete(funded):
    with pytest.raises(DatabaseError), transaction.atomic():
        sql("UPDATE ledger_ledgeraccount SET purpose = 'cash_reserved' WHERE id = %s", [cash(funded).pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        sql("DELETE FROM ledger_ledgeraccount WHERE id = %s", [cash(funded).pk])
    assert LedgerAccount.objects.filter(pk=cash(funded).pk, purpose=Purpose.CASH_AVAILABLE).exists()


@pytest.mark.django_db
def test_client_accounts_cannot_be_allowed_negative(account):
    with pytest.raises(IntegrityError, match="ledger_account_client_never_negative"), transaction.atomic():
        LedgerAccount.objects.create(
            trading_account=account,
            purpose=Purpose.POSITION_AVAILABLE,
            asset_id=cash(account).asset_id,
            allow_negative=True,
        )


@pytest.mark.django_db
def test_idempotency_key_is_unique_in_the_database(funded):
    txn = JournalTransaction.objects.get(idempotency_key=f"fund-{funded.pk}")
    with pytest.raises(IntegrityError, match="idempotency_key"), transaction.atomic():
        sql(
            "INSERT INTO ledger_journaltransaction (kind, idempotency_key, fingerprint, reference, memo, actor_id, "
            "correlation_id, posted_at) VALUES ('deposit', %s, 'x', '', '', %s, '', now())",
            [txn.idempotency_key, txn.actor_id],
        )


def _insert_raw_transaction(actor_id: int, legs: list[tuple[LedgerAccount, Decimal]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_journaltransaction (kind, idempotency_key, fingerprint, reference, memo, actor_id, "
            "correlation_id, posted_at) VALUES ('adjustment', 'raw-' || gen_random_uuid(), 'x', '', '', %s, '', now()) "
            "RETURNING id",
            [actor_id],
        )
        (txn_id,) = cursor.fetchone()
        for account, amount in legs:
            cursor.execute(
                "INSERT INTO ledger_journalentry (transaction_id, ledger_account_id, asset_id, amount, "
                "account_version, balance_after, posted_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    txn_id,
                    account.pk,
                    account.asset_id,
                    amount,
                    account.version + 1,
                    account.balance + amount,
                    timezone.now(),
                ],
            )


@pytest.mark.django_db(transaction=True)
def test_unbalanced_transaction_fails_at_commit(make_account):
    actor = system_actor()
    a, b = make_account(), make_account()
    services.cash_deposit(actor=actor, trading_account=a, currency="USD", amount="10", idempotency_key="d")
    before = JournalTransaction.objects.count()
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        _insert_raw_transaction(actor.pk, [(cash(a), Decimal("-5")), (cash(b), Decimal("4"))])
        # Inside the transaction nothing has complained yet: the check is deferred to commit.
        assert JournalTransaction.objects.count() == before + 1
    assert JournalTransaction.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_transaction_without_entries_fails_at_commit(make_account):
    actor = system_actor()
    with pytest.raises(IntegrityError, match="fewer than two entries"), transaction.atomic():
        _insert_raw_transaction(actor.pk, [])
    assert JournalTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_entry_asset_must_match_its_account(make_account):
    from apps.ledger.selectors import asset_get

    actor = system_actor()
    a = make_account()
    eur = asset_get("EUR")
    with (
        pytest.raises(IntegrityError, match="ledger_entry_asset_is_account_asset"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ledger_journaltransaction (kind, idempotency_key, fingerprint, reference, memo, "
            "actor_id, correlation_id, posted_at) VALUES ('adjustment', 'k', 'x', '', '', %s, '', now()) "
            "RETURNING id",
            [actor.pk],
        )
        (txn_id,) = cursor.fetchone()
        for amount in (Decimal("1"), Decimal("-1")):
            cursor.execute(
                "INSERT INTO ledger_journalentry (transaction_id, ledger_account_id, asset_id, amount, "
                "account_version, balance_after, posted_at) VALUES (%s, %s, %s, %s, %s, 0, now())",
                [txn_id, cash(a).pk, eur.pk, amount, 1 if amount > 0 else 2],
            )
    assert JournalEntry.objects.count() == 0


@pytest.mark.django_db
def test_sequence_numbers_are_unique_and_append_only(funded):
    sequence_assign()
    numbering = JournalSequence.objects.get()
    assert numbering.sequence == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        sql(
            "INSERT INTO ledger_journalsequence (sequence, transaction_id, assigned_at, content_hash, chain_hash, "
            "hash_version) VALUES (1, %s, now(), repeat('0', 64), repeat('0', 64), 1)",
            [numbering.transaction_id],
        )
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        sql("UPDATE ledger_journalsequence SET sequence = 5")


@pytest.mark.django_db
def test_verify_finds_an_entry_altered_behind_the_triggers(funded, actor):
    """A superuser disables the triggers and edits an old entry: verification finds it."""
    services.cash_withdraw(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key="w")
    assert verify().ok
    entry = JournalEntry.objects.filter(ledger_account=cash(funded)).order_by("account_version").first()
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred checks of the setup before altering the table
    sql("ALTER TABLE ledger_journalentry DISABLE TRIGGER USER")
    sql("UPDATE ledger_journalentry SET amount = amount + 1 WHERE id = %s", [entry.pk])
    sql("ALTER TABLE ledger_journalentry ENABLE TRIGGER USER")
    report = verify()
    assert not report.ok
    text = "\n".join(report.problems)
    assert f"ledger account {cash(funded).pk}: stored balance" in text
    assert f"transaction {entry.transaction_id}: asset" in text


@pytest.mark.django_db
def test_verify_finds_a_deleted_transaction_as_a_sequence_gap(funded, actor):
    for i in range(3):
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key=f"d{i}")
    sequence_assign()
    victim = JournalTransaction.objects.get(idempotency_key="d1")
    number = JournalSequence.objects.get(transaction=victim).sequence
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    tables = ("ledger_journalentry", "ledger_journalsequence", "ledger_journaltransaction")
    for table in tables:
        sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    sql("DELETE FROM ledger_journalentry WHERE transaction_id = %s", [victim.pk])
    sql("DELETE FROM ledger_journalsequence WHERE transaction_id = %s", [victim.pk])
    sql("DELETE FROM ledger_journaltransaction WHERE id = %s", [victim.pk])
    for table in tables:
        sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    problems = "\n".join(verify().problems)
    assert f"ledger chain: first broken link #{number}: link(s) #{number} missing" in problems
    assert f"transaction {victim.pk}" not in problems  # gone with its link: the gap is the evidence


@pytest.mark.django_db
def test_unknown_transaction_kinds_and_hold_states_are_refused(funded, actor):
    hold = services.hold_reserve(actor=actor, account=cash(funded), amount="1", idempotency_key="h")
    with pytest.raises(IntegrityError, match="ledger_hold_status_valid"), transaction.atomic():
        sql("UPDATE ledger_hold SET status = 'frozen', remaining = 0 WHERE id = %s", [hold.pk])
    with pytest.raises(IntegrityError, match="ledger_txn_kind_valid"), transaction.atomic():
        sql(
            "INSERT INTO ledger_journaltransaction (kind, idempotency_key, fingerprint, reference, memo, actor_id, "
            "correlation_id, posted_at) VALUES ('gift', 'k-gift', 'x', '', '', %s, '', now())",
            [actor.pk],
        )
    hold.refresh_from_db()
    assert hold.status == "active"
