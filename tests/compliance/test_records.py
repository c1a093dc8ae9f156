"""Records management: the retention report, self-verifying exports of the hash chains (verified
offline, without the database), and GDPR pseudonymisation of a former client."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.compliance.models import SecurityEvent
from apps.compliance.records import (
    MANIFEST,
    client_pseudonymise,
    export_verify,
    retention_report,
    years_later,
)
from apps.core.chain import GENESIS, content_hash
from apps.core.errors import BusinessRuleViolation, Forbidden
from apps.ledger import services
from apps.ledger.chain import transaction_contents
from apps.ledger.models import JournalSequence, JournalTransaction
from apps.ledger.sequencing import sequence_assign
from apps.ledger.verification import verify
from apps.orders.chain import event_chain_verify, event_sequence_assign
from apps.orders.models import Order, OrderEvent, OrderEventSequence
from apps.orders.placement import order_place
from apps.users.models import User
from tests.factories import TradingAccountFactory, UserFactory

PASSWORD = "correct horse battery staple"


def out(name: str, *args: str) -> str:
    from io import StringIO

    buffer = StringIO()
    call_command(name, *args, stdout=buffer)
    return buffer.getvalue()


def buy(actor, account, coid: str) -> Order:  # type: ignore[no-untyped-def]
    return order_place(
        actor=actor,
        account=account,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="100.00",
        time_in_force="day",
        client_order_id=coid,
    )


@pytest.fixture
def history(funded, instrument, actor):  # type: ignore[no-untyped-def]
    """Five ledger transactions and a few order events, all linked into their chains."""
    for i in range(4):
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="10", idempotency_key=f"h{i}")
    buy(actor, funded, "o1")
    sequence_assign()
    event_sequence_assign()
    return funded


# --- Retention -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_retention_report_counts_what_is_past_retention_and_deletes_nothing(history):
    old = datetime(2018, 3, 1, 12, 0, tzinfo=UTC)
    SecurityEvent.objects.create(kind="login", username="someone", channel="api", at=old)
    SecurityEvent.objects.create(kind="logout", username="someone", channel="api", at=timezone.now())
    transactions, events = JournalTransaction.objects.count(), OrderEvent.objects.count()

    today = {line.record_class: line for line in retention_report()}
    assert today["ledger.journaltransaction"].past_retention == 0
    assert today["ledger.journaltransaction"].oldest is None
    security = today["compliance.securityevent"]
    assert (security.years, security.past_retention, security.oldest) == (6, 1, old)
    assert security.eligible_since == date(2024, 3, 1)

    # Six years and a day from now every ledger row is eligible; order events (five years) too.
    later = timezone.now().date() + timedelta(days=6 * 366 + 1)
    future = {line.record_class: line for line in retention_report(as_of=later)}
    ledger = future["ledger.journaltransaction"]
    oldest = JournalTransaction.objects.order_by("posted_at").first().posted_at
    assert (ledger.past_retention, ledger.oldest) == (transactions, oldest)
    assert ledger.eligible_since == years_later(oldest, 6).date()
    assert future["orders.orderevent"].years == 5
    assert future["orders.orderevent"].past_retention == events
    assert future["orders.order"].past_retention == Order.objects.count()

    text = out("retention_report", "--as-of", later.isoformat())
    assert "Journal transactions" in text and "Nothing was deleted" in text
    report = json.loads(out("retention_report", "--as-of", later.isoformat(), "--json"))
    assert {row["record_class"] for row in report} >= {"ledger.journalentry", "orders.fill", "auditlog.logentry"}
    assert (JournalTransaction.objects.count(), OrderEvent.objects.count()) == (transactions, events)


def test_years_later_handles_the_29th_of_february():
    assert years_later(datetime(2024, 2, 29, tzinfo=UTC), 6) == datetime(2030, 2, 28, tzinfo=UTC)


# --- Export and offline verification ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_export_holds_each_record_exactly_as_hashed_and_verifies_offline(history, tmp_path, django_db_blocker):
    target = tmp_path / "export"
    out("export_records", str(target))
    manifest = json.loads((target / MANIFEST).read_text())
    chains = {c["chain"]: c for c in manifest["chains"]}
    links = list(JournalSequence.objects.order_by("sequence"))
    assert chains["ledger"]["records"] == len(links) >= 5
    assert chains["ledger"]["first_previous_chain_hash"] == GENESIS
    assert chains["ledger"]["last_chain_hash"] == links[-1].chain_hash
    event_links = list(OrderEventSequence.objects.order_by("sequence"))
    assert chains["order-events"]["records"] == len(event_links) > 0
    assert chains["order-events"]["last_chain_hash"] == event_links[-1].chain_hash

    lines = [json.loads(line) for line in (target / "ledger.jsonl").read_text().splitlines()]
    with connection.cursor() as cursor:
        contents = transaction_contents(cursor, [link.transaction_id for link in links])
    for line, link in zip(lines, links, strict=True):
        assert line["content"].encode("ascii") == contents[link.transaction_id]  # the canonical form as hashed
        assert (line["sequence"], line["content_hash"], line["chain_hash"]) == (
            link.sequence,
            link.content_hash,
            link.chain_hash,
        )
        assert content_hash(line["content"].encode("ascii")) == link.content_hash

    with django_db_blocker.block():  # offline: any database access would fail the test
        text = out("verify_export", str(target))
        assert export_verify(target / MANIFEST).ok
    assert text.startswith("export OK")


@pytest.mark.django_db(transaction=True)
def test_one_altered_byte_is_found_and_the_first_broken_link_reported(history, tmp_path, django_db_blocker):
    target = tmp_path / "export"
    out("export_records", str(target), "--chain", "ledger")
    path = target / "ledger.jsonl"
    raw = path.read_bytes().splitlines(keepends=True)
    victim = raw[2]  # link #3
    at = victim.index(b'\\"kind\\":\\"deposit') + len(b'\\"kind\\":\\"')
    raw[2] = victim[:at] + b"D" + victim[at + 1 :]
    path.write_bytes(b"".join(raw))

    with django_db_blocker.block():
        report = export_verify(target)
        with pytest.raises(CommandError, match="FAILED"):
            out("verify_export", str(target))
    first = report.first_broken
    assert first is not None
    assert (first.chain, first.sequence, first.line) == ("ledger", 3, 3)
    assert "content differs from what was hashed" in first.reason
    assert any("ledger.jsonl's SHA-256" in problem for problem in report.problems)


@pytest.mark.django_db(transaction=True)
def test_an_altered_manifest_is_found(history, tmp_path):
    target = tmp_path / "export"
    out("export_records", str(target), "--chain", "ledger")
    manifest = target / MANIFEST
    manifest.write_text(manifest.read_text().replace('"records": ', '"records": 1'))
    report = export_verify(target)
    assert not report.ok
    assert any("the manifest was altered" in problem for problem in report.problems)


@pytest.mark.django_db(transaction=True)
def test_an_export_of_a_range_continues_the_chain(history, tmp_path):
    first_part, second_part = tmp_path / "a", tmp_path / "b"
    out("export_records", str(first_part), "--chain", "ledger", "--to-sequence", "2")
    out("export_records", str(second_part), "--chain", "ledger", "--from-sequence", "3", "--to-sequence", "4")
    (a,) = json.loads((first_part / MANIFEST).read_text())["chains"]
    (b,) = json.loads((second_part / MANIFEST).read_text())["chains"]
    before = JournalSequence.objects.get(sequence=2)
    assert (b["first_sequence"], b["last_sequence"], b["records"]) == (3, 4, 2)
    assert b["first_previous_chain_hash"] == before.chain_hash == a["last_chain_hash"]
    assert b["last_chain_hash"] == JournalSequence.objects.get(sequence=4).chain_hash
    assert export_verify(first_part).ok and export_verify(second_part).ok

    # A date range is a contiguous run of links too; an empty one still names its place in the chain.
    today = timezone.now().date()
    dated = tmp_path / "dated"
    out("export_records", str(dated), "--chain", "ledger", "--from-date", today.isoformat())
    (c,) = json.loads((dated / MANIFEST).read_text())["chains"]
    assert c["records"] == JournalSequence.objects.count()
    empty = tmp_path / "empty"
    out("export_records", str(empty), "--chain", "ledger", "--to-date", (today - timedelta(days=1)).isoformat())
    (d,) = json.loads((empty / MANIFEST).read_text())["chains"]
    assert (d["records"], d["first_previous_chain_hash"], d["last_chain_hash"]) == (0, GENESIS, GENESIS)
    assert export_verify(empty).ok


@pytest.mark.django_db(transaction=True)
def test_an_export_is_never_overwritten(history, tmp_path):
    target = tmp_path / "export"
    out("export_records", str(target), "--chain", "ledger")
    before = (target / "ledger.jsonl").read_bytes()
    with pytest.raises(CommandError, match="already exists"):
        out("export_records", str(target), "--chain", "ledger")
    assert (target / "ledger.jsonl").read_bytes() == before


# --- GDPR pseudonymisation ---------------------------------------------------------------


def user_row(user_id: int) -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT username, first_name, last_name, email, is_active, password FROM users_user WHERE id = %s",
            [user_id],
        )
        return cursor.fetchone()


@pytest.fixture
def client_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="ada.lovelace", first_name="Ada", last_name="Lovelace", email="ada@example.test")


@pytest.mark.django_db(transaction=True)
def test_pseudonymising_a_former_client_keeps_every_chain_verifiable(client_user, instrument, actor):
    account = TradingAccountFactory(owner=client_user)
    services.cash_deposit(actor=client_user, trading_account=account, currency="USD", amount="50", idempotency_key="in")
    services.cash_withdraw(actor=client_user, trading_account=account, currency="USD", amount="50", idempotency_key="o")
    rejected = buy(client_user, account, "late")  # no cash left: rejected by risk, kept as evidence
    assert rejected.status == "rejected"
    assert OrderEvent.objects.filter(actor=client_user).exists()
    sequence_assign()
    event_sequence_assign()
    ledger_head = JournalSequence.objects.order_by("-sequence").first()
    event_head = OrderEventSequence.objects.order_by("-sequence").first()
    assert authenticate(username="ada.lovelace", password=PASSWORD) is not None

    entries_before = LogEntry.objects.count()
    text = out("pseudonymise_client", "ada.lovelace")
    pseudonym = f"former-client-{client_user.pk}"
    assert pseudonym in text

    username, first, last, email, active, password = user_row(client_user.pk)
    assert (username, first, last, email, active) == (pseudonym, "", "", "", False)
    assert password.startswith("!")  # unusable
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM users_user WHERE username ILIKE %s OR first_name = 'Ada' OR last_name = 'Lovelace' "
            "OR email ILIKE %s",
            ["%lovelace%", "%ada@example%"],
        )
        assert cursor.fetchone()[0] == 0
    assert authenticate(username="ada.lovelace", password=PASSWORD) is None
    assert authenticate(username=pseudonym, password=PASSWORD) is None

    # The chains are intact: nothing hashed names a person, only ids.
    report = verify()
    assert report.ok, report.problems
    assert report.chain.head_sequence == ledger_head.sequence
    assert report.chain.head_hash == ledger_head.chain_hash
    events = event_chain_verify()
    assert events.ok and (events.head_sequence, events.head_hash) == (event_head.sequence, event_head.chain_hash)
    assert JournalTransaction.objects.filter(actor=client_user).count() == 2

    # Recorded once, by the system actor, without the old values (auditlog's own entry for the
    # save, which would copy them into the append-only log, is not written).
    assert LogEntry.objects.count() == entries_before + 1
    entry = LogEntry.objects.get(additional_data__event="gdpr_pseudonymisation")
    assert (entry.actor_id, entry.object_pk, entry.object_repr) == (actor.pk, str(client_user.pk), pseudonym)
    recorded = json.dumps(entry.changes) + json.dumps(entry.additional_data) + str(entry.serialized_data)
    assert "Lovelace" not in recorded and "ada@example" not in recorded
    assert entry.changes["username"] == ["[erased]", pseudonym]

    # Running it again changes nothing.
    assert "already pseudonymised" in out("pseudonymise_client", pseudonym)
    assert LogEntry.objects.filter(additional_data__event="gdpr_pseudonymisation").count() == 1


def assert_unchanged(user: User, before: tuple[object, ...], entries: int) -> None:
    assert user_row(user.pk) == before
    assert LogEntry.objects.count() == entries


@pytest.mark.django_db(transaction=True)
def test_a_client_with_a_balance_is_refused_and_nothing_changes(client_user, actor):
    account = TradingAccountFactory(owner=client_user)
    services.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="1", idempotency_key="x")
    before, entries = user_row(client_user.pk), LogEntry.objects.count()
    with pytest.raises(BusinessRuleViolation) as refused:
        client_pseudonymise(actor=actor, username="ada.lovelace")
    assert refused.value.code == "client_has_balance"
    with pytest.raises(CommandError, match="client_has_balance"):
        out("pseudonymise_client", "ada.lovelace")
    assert_unchanged(client_user, before, entries)


@pytest.mark.django_db(transaction=True)
def test_a_client_with_an_open_order_is_refused_and_nothing_changes(client_user, instrument, actor):
    account = TradingAccountFactory(owner=client_user)
    services.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="500", idempotency_key="x")
    assert buy(client_user, account, "open").status == "pending_new"
    before, entries = user_row(client_user.pk), LogEntry.objects.count()
    with pytest.raises(BusinessRuleViolation) as refused:
        client_pseudonymise(actor=actor, username="ada.lovelace")
    assert refused.value.code == "client_has_orders"
    assert_unchanged(client_user, before, entries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("flag", ["is_staff", "is_superuser", "compliance_group", "system"])
def test_staff_and_the_system_actor_are_refused(flag, actor):
    from django.contrib.auth.models import Group

    if flag == "system":
        user = actor
    else:
        user = UserFactory(
            username="grace",
            email="grace@example.test",
            is_staff=flag == "is_staff",
            is_superuser=flag == "is_superuser",
        )
        if flag == "compliance_group":
            user.groups.add(Group.objects.get(name="compliance"))
    before, entries = user_row(user.pk), LogEntry.objects.count()
    with pytest.raises(Forbidden) as refused:
        client_pseudonymise(actor=actor, username=user.username)
    assert refused.value.code == "not_a_client"
    assert_unchanged(user, before, entries)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_user_is_refused():
    with pytest.raises(CommandError, match="user_not_found"):
        out("pseudonymise_client", "nobody")


def test_verify_export_reports_a_missing_manifest(tmp_path: Path):
    report = export_verify(tmp_path)
    assert not report.ok and "is missing" in report.problems[0]
