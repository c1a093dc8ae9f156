"""The order events' hash chain: every event is queued by a trigger, chained by the event
sequencer, recomputed by ``verify_audit``; tampering behind the triggers is found."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection
from django.utils import timezone

from apps.core.chain import GENESIS, canonical_json, content_hash, link_hash, utc
from apps.ledger import services as ledger
from apps.orders.chain import ORDER_EVENT_CHAIN, event_chain_verify, event_contents, event_sequence_assign
from apps.orders.models import OrderEvent, OrderEventSequence, UnsequencedOrderEvent
from apps.orders.placement import order_place


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


@pytest.fixture
def rich(account, actor):
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="50000", idempotency_key="rich")
    return account


def place_some(actor, account, count: int, prefix: str = "c") -> list[int]:
    return [
        order_place(
            actor=actor,
            account=account,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity="1",
            limit_price="100.00",
            time_in_force="day",
            client_order_id=f"{prefix}{i}",
        ).pk
        for i in range(count)
    ]


def reference_content(event: OrderEvent) -> bytes:
    """The documented canonical form, built from the ORM (``data`` re-read exactly)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data::text FROM orders_orderevent WHERE id = %s", [event.pk])
        (data,) = cursor.fetchone()
    return canonical_json(
        {
            "type": "orders.event",
            "id": event.pk,
            "order_id": event.order_id,
            "kind": event.kind,
            "status_after": event.status_after,
            "at": utc(event.at),
            "broker_at": utc(event.broker_at),
            "actor_id": event.actor_id,
            "initiator": event.initiator,
            "source_ip": event.source_ip,
            "correlation_id": event.correlation_id,
            "data": json.loads(data, parse_float=Decimal),
        }
    )


@pytest.mark.django_db
def test_every_event_is_queued_on_insert_and_chained_by_the_sequencer(rich, instrument, actor):
    place_some(actor, rich, 3)
    events = list(OrderEvent.objects.order_by("id"))
    assert len(events) == 6  # received, risk_accepted (written by one bulk_create per order)
    assert sorted(UnsequencedOrderEvent.objects.values_list("event_id", flat=True)) == [e.pk for e in events]
    assert event_sequence_assign() == 6
    assert not UnsequencedOrderEvent.objects.exists()
    previous = GENESIS
    for sequence, event in enumerate(events, start=1):
        link = OrderEventSequence.objects.get(event=event)
        assert (link.sequence, link.hash_version) == (sequence, 1)
        assert link.content_hash == content_hash(reference_content(event))
        assert link.chain_hash == link_hash(sequence=sequence, previous=previous, content=link.content_hash)
        previous = link.chain_hash
    report = event_chain_verify()
    assert report.ok
    assert (report.links_checked, report.head_sequence, report.head_hash) == (6, 6, previous)


@pytest.mark.django_db
def test_event_data_with_exact_numbers_hashes_deterministically(rich, instrument, actor):
    (order_id,) = place_some(actor, rich, 1)
    sql(
        "INSERT INTO orders_orderevent (order_id, kind, status_after, at, actor_id, initiator, correlation_id, data) "
        """VALUES (%s, 'acknowledged', 'new', %s, %s, 'venue', '', '{"px": 100.10, "n": [1, 2.50], "z": "é"}')""",
        [order_id, timezone.now(), actor.pk],
    )
    event_sequence_assign()
    ids = list(OrderEventSequence.objects.order_by("sequence").values_list("event_id", flat=True))
    with connection.cursor() as cursor:
        first, second = event_contents(cursor, ids), event_contents(cursor, ids)
    assert first == second
    assert b'"data":{"n":[1,2.5],"px":100.1,"z":"\\u00e9"}' in first[ids[-1]]
    assert event_chain_verify().ok


@pytest.mark.django_db
def test_the_event_chain_continues_across_sequencer_runs(rich, instrument, actor):
    for run in range(3):
        place_some(actor, rich, 2, prefix=f"r{run}-")
        event_sequence_assign(limit=3)
    assert list(OrderEventSequence.objects.values_list("sequence", flat=True)) == list(range(1, 13))
    assert event_chain_verify().ok


def run_verify_audit() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("verify_audit", "--no-progress", stdout=out, stderr=StringIO())
    except CommandError:
        with pytest.raises(SystemExit) as exited:
            execute_from_command_line(["manage.py", "verify_audit", "--no-progress"])
        return int(exited.value.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_old_event_altered_behind_the_triggers_is_the_first_broken_link(rich, instrument, actor):
    place_some(actor, rich, 3)
    status, output = run_verify_audit()  # chains them first
    assert (status, "order events OK: 6 order events checked" in output) == (0, True)
    victim = OrderEventSequence.objects.get(sequence=2)
    sql("ALTER TABLE orders_orderevent DISABLE TRIGGER USER")
    try:
        sql(
            """UPDATE orders_orderevent SET data = jsonb_set(data, '{reference_price}', '"1.00"') WHERE id = %s""",
            [victim.event_id],
        )
    finally:
        sql("ALTER TABLE orders_orderevent ENABLE TRIGGER USER")
    place_some(actor, rich, 1, prefix="later")

    status, output = run_verify_audit()
    assert status == 1
    assert output.splitlines()[0].startswith(
        f"order events chain: first broken link #2 (order event {victim.event_id}): content differs from what was "
        f"hashed (stored content hash {victim.content_hash}, recomputed "
    )
    assert "1 broken link(s) of 8" in output


@pytest.mark.django_db(transaction=True)
def test_an_event_deleted_from_the_middle_is_found(rich, instrument, actor):
    place_some(actor, rich, 2)
    event_sequence_assign()
    victim = OrderEventSequence.objects.get(sequence=3)
    sql("SET session_replication_role = replica")  # every trigger off, foreign keys included
    try:
        sql("DELETE FROM orders_orderevent WHERE id = %s", [victim.event_id])
    finally:
        sql("SET session_replication_role = DEFAULT")
    first = event_chain_verify().first_broken
    assert first is not None
    assert (first.sequence, first.record_id, first.reason) == (3, victim.event_id, "the order event is missing")


@pytest.mark.django_db(transaction=True)
def test_an_event_inserted_behind_the_triggers_is_found(rich, instrument, actor):
    (order_id,) = place_some(actor, rich, 1)
    event_sequence_assign()
    sql("ALTER TABLE orders_orderevent DISABLE TRIGGER USER")  # the queueing trigger too
    try:
        sql(
            "INSERT INTO orders_orderevent (order_id, kind, status_after, at, actor_id, initiator, correlation_id, "
            "data) VALUES (%s, 'canceled', 'canceled', now(), %s, 'firm', '', '{}') RETURNING id",
            [order_id, actor.pk],
        )
    finally:
        sql("ALTER TABLE orders_orderevent ENABLE TRIGGER USER")
    forged = OrderEvent.objects.order_by("-id").values_list("id", flat=True).first()
    assert ORDER_EVENT_CHAIN.record_noun == "order event"
    assert event_chain_verify().problems("order event") == [
        f"order event {forged}: neither chained nor waiting for its link"
    ]
