"""The ledger's hash chain: assigned by the sequencer, recomputed by ``verify_ledger``, and
tampering behind the triggers (as a superuser could) shows as the first broken link."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection

from apps.core.chain import GENESIS, canonical_json, content_hash, fixed, link_hash, utc
from apps.ledger import services
from apps.ledger.chain import LEDGER_CHAIN, transaction_contents
from apps.ledger.models import JournalEntry, JournalSequence, JournalTransaction
from apps.ledger.sequencing import sequence_assign
from apps.ledger.verification import verify
from tests.conftest import cash


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def behind_the_triggers(table: str, statement: str, params: list[object] | None = None) -> None:
    """What a superuser could do: switch the append-only triggers off, write, switch them on."""
    sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        sql(statement, params)
    finally:
        sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def post_some(actor, account, count: int, prefix: str = "d") -> list[int]:  # type: ignore[no-untyped-def]
    return [
        services.cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount=f"{i + 1}.25", idempotency_key=f"{prefix}{i}"
        ).pk
        for i in range(count)
    ]


def reference_content(txn: JournalTransaction) -> bytes:
    """The documented canonical form, built independently from the ORM with the Python helpers."""
    return json.dumps(
        {
            "type": "ledger.transaction",
            "id": txn.pk,
            "kind": txn.kind,
            "idempotency_key": txn.idempotency_key,
            "fingerprint": txn.fingerprint,
            "reference": txn.reference,
            "memo": txn.memo,
            "actor_id": txn.actor_id,
            "correlation_id": txn.correlation_id,
            "posted_at": utc(txn.posted_at),
            "reverses_id": txn.reverses_id,
            "hold_id": txn.hold_id,
            "entries": [
                {
                    "id": e.pk,
                    "ledger_account_id": e.ledger_account_id,
                    "asset_id": e.asset_id,
                    "amount": fixed(e.amount),
                    "account_version": e.account_version,
                    "balance_after": fixed(e.balance_after),
                    "posted_at": utc(e.posted_at),
                }
                for e in txn.entries.order_by("id")
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()


# --- The canonical form -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1000.00000000"), "1000"),
        (Decimal("0.50000000"), "0.5"),
        (Decimal("-30.00"), "-30"),
        (Decimal("0E-8"), "0"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("12345678901234567890.12345678"), "12345678901234567890.12345678"),
    ],
)
def test_decimals_are_normalised_fixed_point(value, text):
    assert fixed(value) == text


@pytest.mark.django_db
def test_postgresql_renders_decimals_and_times_as_the_python_helpers_do():
    values = ["1000.00000000", "0.50000000", "-30.00000000", "0.00000000", "0.00000001", "-1234567.1"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v, trim_scale(v)::text FROM unnest(%s::numeric(28,8)[]) AS v",
            [[Decimal(v) for v in values]],
        )
        for value, rendered in cursor.fetchall():
            assert rendered == fixed(value)
        cursor.execute(
            """SELECT t, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                 FROM unnest(ARRAY['2026-01-02 03:04:05.000006+02', '1999-12-31 23:59:59.999999-05',
                                   '2026-06-30 12:00:00+00']::timestamptz[]) AS t"""
        )
        for at, rendered in cursor.fetchall():
            assert rendered == utc(at)


def test_canonical_json_is_sorted_compact_ascii_and_keeps_decimals_exact():
    assert canonical_json({"b": 1, "a": ["é", None, True]}) == b'{"a":["\\u00e9",null,true],"b":1}'
    assert canonical_json({"x": Decimal("1.50"), "a": "s"}) == b'{"a":"s","x":1.5}'
    assert canonical_json({"n": [Decimal("1E+2")]}) == b'{"n":[100]}'
    with pytest.raises(TypeError):
        canonical_json({"x": Decimal("1.5"), "f": 1.5})  # floats are not part of the form


def test_link_hash_is_the_documented_rule():
    content = hashlib.sha256(b"{}").hexdigest()
    expected = hashlib.sha256(f"v1:1:{GENESIS}:{content}".encode()).hexdigest()
    assert link_hash(sequence=1, previous=GENESIS, content=content) == expected


# --- Assignment ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sequencer_hashes_each_transaction_as_documented_and_chains_them(funded, actor):
    other = post_some(actor, funded, 2)
    services.cash_withdraw(
        actor=actor, trading_account=funded, currency="USD", amount="0.75", idempotency_key="w", memo="café ☕"
    )
    sequence_assign()
    links = list(JournalSequence.objects.order_by("sequence").select_related("transaction"))
    assert [link.sequence for link in links] == [1, 2, 3, 4]
    assert {link.transaction_id for link in links} >= set(other)
    previous = GENESIS
    for link in links:
        assert link.hash_version == 1
        assert link.content_hash == content_hash(reference_content(link.transaction))
        assert link.chain_hash == link_hash(sequence=link.sequence, previous=previous, content=link.content_hash)
        previous = link.chain_hash
    report = verify()
    assert report.ok, report.problems
    assert (report.chain.links_checked, report.chain.head_sequence, report.chain.head_hash) == (4, 4, previous)


@pytest.mark.django_db
def test_the_chain_is_deterministic_and_continues_across_sequencer_runs(funded, actor):
    heads = []
    for run in range(3):
        post_some(actor, funded, 3, prefix=f"r{run}-")
        sequence_assign(limit=2)  # several rounds per run, too
        heads.append(JournalSequence.objects.order_by("-sequence").values_list("sequence", "chain_hash").first())
    assert [sequence for sequence, _ in heads] == [4, 7, 10]
    ids = list(JournalSequence.objects.order_by("sequence").values_list("transaction_id", flat=True))
    with connection.cursor() as cursor:
        first, second = transaction_contents(cursor, ids), transaction_contents(cursor, ids)
    assert first == second
    previous = GENESIS
    for sequence, txn_id in enumerate(ids, start=1):
        previous = link_hash(sequence=sequence, previous=previous, content=content_hash(first[txn_id]))
    assert previous == heads[-1][1]
    assert verify().ok


# --- Tampering (committed for real: transactional tests) --------------------------------------


def run_verify_ledger() -> tuple[int, str]:
    """``manage.py verify_ledger`` as an operator runs it: its exit status and output."""
    out = StringIO()
    try:
        call_command("verify_ledger", "--no-progress", stdout=out, stderr=StringIO())
    except CommandError:
        with pytest.raises(SystemExit) as exited:
            execute_from_command_line(["manage.py", "verify_ledger", "--no-progress"])
        return int(exited.value.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_old_entry_altered_behind_the_triggers_is_the_first_broken_link(funded, actor):
    post_some(actor, funded, 4)
    sequence_assign()
    assert run_verify_ledger()[0] == 0
    victim = JournalSequence.objects.get(sequence=3)
    entry = JournalEntry.objects.filter(transaction_id=victim.transaction_id).order_by("id").first()
    behind_the_triggers(
        "ledger_journalentry", "UPDATE ledger_journalentry SET amount = amount + 1 WHERE id = %s", [entry.pk]
    )
    post_some(actor, funded, 2, prefix="later")  # the ledger goes on; the break stays found

    status, output = run_verify_ledger()
    assert status == 1
    first_line = output.splitlines()[0]
    assert first_line.startswith(
        f"ledger chain: first broken link #3 (transaction {victim.transaction_id}): content differs from what was "
        f"hashed (stored content hash {victim.content_hash}, recomputed "
    )
    assert "1 broken link(s) of 7" in first_line
    report = verify()
    assert report.chain.first_broken is not None and report.chain.first_broken.sequence == 3


@pytest.mark.django_db(transaction=True)
def test_an_edited_memo_is_found_by_the_chain_alone(funded, actor):
    """Balances still agree: only the chain can tell that the transaction was rewritten."""
    ids = post_some(actor, funded, 3)
    sequence_assign()
    behind_the_triggers(
        "ledger_journaltransaction",
        "UPDATE ledger_journaltransaction SET memo = 'nothing to see' WHERE id = %s",
        [ids[0]],
    )
    report = verify()
    number = JournalSequence.objects.get(transaction_id=ids[0]).sequence
    assert report.problems == report.chain.problems("transaction")  # nothing else is wrong
    assert report.problems[0].startswith(f"ledger chain: first broken link #{number} (transaction {ids[0]}): content")


@pytest.mark.django_db(transaction=True)
def test_rehashing_the_altered_content_breaks_the_link_instead(funded, actor):
    ids = post_some(actor, funded, 3)
    sequence_assign()
    behind_the_triggers(
        "ledger_journaltransaction", "UPDATE ledger_journaltransaction SET reference = 'x' WHERE id = %s", [ids[1]]
    )
    with connection.cursor() as cursor:
        forged = content_hash(transaction_contents(cursor, [ids[1]])[ids[1]])
    behind_the_triggers(
        "ledger_journalsequence",
        "UPDATE ledger_journalsequence SET content_hash = %s WHERE transaction_id = %s",
        [forged, ids[1]],
    )
    first = verify().chain.first_broken
    assert first is not None
    assert first.record_id == ids[1]
    assert first.reason.startswith("chain hash ")
    assert f"does not follow from link #{first.sequence - 1}" in first.reason


@pytest.mark.django_db(transaction=True)
def test_a_link_deleted_from_the_middle_is_found(funded, actor):
    post_some(actor, funded, 5)
    sequence_assign()
    victim = JournalSequence.objects.get(sequence=3)
    behind_the_triggers("ledger_journalsequence", "DELETE FROM ledger_journalsequence WHERE sequence = 3")
    status, output = run_verify_ledger()
    assert status == 1
    assert "ledger chain: first broken link #3: link(s) #3 missing (the next present is #4)" in output
    assert f"transaction {victim.transaction_id}: neither chained nor waiting for its link" in output


@pytest.mark.django_db(transaction=True)
def test_a_transaction_deleted_from_the_middle_is_found(funded, actor):
    """With every trigger off (session_replication_role = replica, superuser only) even the
    foreign keys are silent: the link is left pointing at nothing."""
    ids = post_some(actor, funded, 4)
    sequence_assign()
    number = JournalSequence.objects.get(transaction_id=ids[1]).sequence
    sql("SET session_replication_role = replica")
    try:
        sql("DELETE FROM ledger_journalentry WHERE transaction_id = %s", [ids[1]])
        sql("DELETE FROM ledger_journaltransaction WHERE id = %s", [ids[1]])
    finally:
        sql("SET session_replication_role = DEFAULT")
    first = verify().chain.first_broken
    assert first is not None
    assert (first.sequence, first.record_id, first.reason) == (number, ids[1], "the transaction is missing")
    assert LEDGER_CHAIN.record_noun == "transaction"
    assert cash(funded).version == 5  # the stored balance still counts it: the balance checks fail too
