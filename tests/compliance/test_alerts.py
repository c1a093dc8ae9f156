"""The nightly verifications raise a compliance alert when they fail, and only then."""

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.compliance.models import AlertKind, ComplianceAlert
from apps.compliance.tasks import verify_audit_task
from apps.ledger import services
from apps.ledger.models import JournalSequence
from apps.ledger.sequencing import sequence_assign
from apps.ledger.tasks import verify_ledger_task
from apps.orders.models import OrderEventSequence
from apps.orders.placement import order_place


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def tamper(table: str, statement: str, params: list[object]) -> None:
    sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        sql(statement, params)
    finally:
        sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.mark.django_db(transaction=True)
def test_the_nightly_ledger_task_alerts_on_a_broken_chain_and_not_before(funded, actor, caplog):
    for i in range(3):
        services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="1", idempotency_key=f"d{i}")
    result = verify_ledger_task()  # the task's body, as the worker runs it
    assert result["ok"] is True
    assert not ComplianceAlert.objects.exists()

    sequence_assign()
    victim = JournalSequence.objects.get(sequence=2)
    tamper(
        "ledger_journaltransaction",
        "UPDATE ledger_journaltransaction SET reference = 'rewritten' WHERE id = %s",
        [victim.transaction_id],
    )
    with caplog.at_level(logging.INFO, logger="apps.compliance.alerts"):
        result = verify_ledger_task()
    assert result["ok"] is False
    alert = ComplianceAlert.objects.get()
    assert (alert.kind, alert.severity, alert.acknowledged_at) == (
        AlertKind.LEDGER_VERIFICATION_FAILED,
        "critical",
        None,
    )
    assert alert.summary.startswith(
        f"Ledger verification failed: ledger chain: first broken link #2 (transaction {victim.transaction_id})"
    )
    assert alert.details["first_broken_link"]["sequence"] == 2
    assert alert.details["first_broken_link"]["record_id"] == victim.transaction_id
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "compliance_alert"]
    assert (record.levelno, record.alert_id, record.alert_kind) == (logging.CRITICAL, alert.pk, alert.kind)


@pytest.mark.django_db(transaction=True)
def test_the_nightly_audit_task_alerts_on_a_broken_event_chain_and_not_before(funded, instrument, actor):
    services.cash_deposit(actor=actor, trading_account=funded, currency="USD", amount="5000", idempotency_key="more")
    for i in range(2):
        order_place(
            actor=actor,
            account=funded,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity="1",
            limit_price="100.00",
            time_in_force="day",
            client_order_id=f"c{i}",
        )
    assert verify_audit_task()["ok"] is True
    assert not ComplianceAlert.objects.exists()

    victim = OrderEventSequence.objects.get(sequence=1)
    tamper(
        "orders_orderevent", "UPDATE orders_orderevent SET at = at - interval '1 hour' WHERE id = %s", [victim.event_id]
    )
    result = verify_audit_task()
    assert result["ok"] is False
    alert = ComplianceAlert.objects.get()
    assert alert.kind == AlertKind.AUDIT_VERIFICATION_FAILED
    assert alert.details["first_broken_link"] == {
        "sequence": 1,
        "record_id": victim.event_id,
        "reason": alert.details["first_broken_link"]["reason"],
    }
    assert alert.details["first_broken_link"]["reason"].startswith("content differs")


@pytest.mark.django_db
def test_an_alert_says_what_it_said_forever_and_is_acknowledged_once(actor):
    alert = ComplianceAlert.objects.create(
        kind=AlertKind.LEDGER_VERIFICATION_FAILED, severity="critical", summary="s", raised_at=timezone.now()
    )
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        ComplianceAlert.objects.filter(pk=alert.pk).update(summary="nothing happened")
    with pytest.raises(DatabaseError, match="Cannot delete"), transaction.atomic():
        ComplianceAlert.objects.filter(pk=alert.pk).delete()
    ComplianceAlert.objects.filter(pk=alert.pk).update(acknowledged_by=actor, acknowledged_at=timezone.now())
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        ComplianceAlert.objects.filter(pk=alert.pk).update(acknowledged_at=timezone.now())
