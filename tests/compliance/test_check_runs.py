"""Every run of a control is recorded (``CheckRun``), passed or failed; the record is append-only."""

from __future__ import annotations

import pytest
from django.db import ProgrammingError, transaction
from django.utils import timezone

from apps.compliance.models import CheckRun, ReconciliationBreak
from apps.compliance.reconciliation import reconciliation_run
from apps.compliance.services import check_run_errors
from apps.compliance.verification import audit_verify_and_alert, ledger_verify_and_alert
from tests.compliance.admin_support import staff

pytestmark = pytest.mark.django_db


def test_the_verifications_record_each_run(funded):  # type: ignore[no-untyped-def]
    assert ledger_verify_and_alert()["ok"] and audit_verify_and_alert()["ok"]
    ledger, audit = CheckRun.objects.get(kind="ledger_verification"), CheckRun.objects.get(kind="audit_verification")
    assert ledger.ok and ledger.summary.startswith("Ledger OK:") and ledger.finished_at >= ledger.started_at
    assert ledger.details["accounts_checked"] > 0 and ledger.details["head"]["sequence"] >= 1
    assert audit.ok and audit.summary.startswith("Order events OK:") and audit.run_by is None


def test_a_reconciliation_records_its_run_clean_or_not(funded, actor):  # type: ignore[no-untyped-def]
    reconciliation_run(brokers=())
    clean = CheckRun.objects.get()
    assert (clean.kind, clean.ok, clean.run_by) == ("reconciliation", True, actor)  # the system actor
    assert clean.summary.startswith("Reconciliation OK:") and clean.details["differences"] == 0

    carla = staff("carla")
    reconciliation_run(actor=carla, brokers=["paper"])  # the paper broker's test venue: nothing held there
    latest = CheckRun.objects.order_by("-id").first()
    assert latest is not None and latest.run_by == carla and latest.details["brokers"].keys() == {"paper"}
    assert latest.ok and latest.summary.endswith("brokers: paper") and not ReconciliationBreak.objects.exists()


def test_a_control_that_raises_is_recorded_as_failed_and_the_error_goes_through():
    started = timezone.now()
    with pytest.raises(ZeroDivisionError), check_run_errors("ledger_verification", started):
        1 / 0  # noqa: B018
    run = CheckRun.objects.get()
    assert (run.ok, run.summary) == (False, "Did not complete: ZeroDivisionError: division by zero")


def test_a_run_can_be_neither_changed_nor_deleted():
    now = timezone.now()
    run = CheckRun.objects.create(kind="reconciliation", started_at=now, finished_at=now, ok=True, summary="ok")
    for attempt in (
        lambda: CheckRun.objects.filter(pk=run.pk).update(ok=False),
        lambda: CheckRun.objects.filter(pk=run.pk).delete(),
    ):
        with pytest.raises(ProgrammingError, match="pgtrigger: Cannot"), transaction.atomic():
            attempt()
    run.refresh_from_db()
    assert run.ok
