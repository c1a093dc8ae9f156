"""Report runs: recorded, stored with their SHA-256, reproducible, refused cleanly, produced once."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.db.utils import ProgrammingError

from apps.core.errors import ApplicationError
from apps.reports.models import ReportFile, ReportRun
from apps.reports.production import reports_produce_due
from apps.reports.services import report_file_read, report_rerun, report_run_execute
from tests.reports.scenario import MONDAY, TUESDAY, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario(actor):
    return build(actor)


def test_a_run_stores_its_files_with_size_and_sha256(scenario, actor):
    run = report_run_execute(actor=actor, kind="statement", business_date=MONDAY, account_id=scenario.account.pk)
    assert (run.status, run.scope, run.account_id, run.trigger) == (
        "succeeded",
        "account",
        scenario.account.pk,
        "manual",
    )
    assert run.started_by == actor and run.finished_at >= run.started_at
    assert (run.period_start.isoformat(), run.period_end.isoformat()) == (
        "2026-11-27T21:00:00+00:00",
        "2026-11-30T21:00:00+00:00",
    )
    files = list(run.files.order_by("id"))
    assert [f.content_type for f in files] == ["application/pdf", "text/csv"]
    for f in files:
        with default_storage.open(f.storage_path, "rb") as handle:
            data = handle.read()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f.size, f.sha256)


def test_a_rerun_for_a_past_date_reproduces_every_hash(scenario, actor):
    firm = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY)
    own = report_run_execute(actor=actor, kind="statement", business_date=MONDAY, account_id=scenario.account.pk)
    for run in (firm, own):
        again = report_rerun(actor=actor, run=run)
        assert again.rerun_of == run and again.trigger == "rerun" and again.pk != run.pk
        assert {f.name: f.sha256 for f in again.files.all()} == {f.name: f.sha256 for f in run.files.all()}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "statement", "business_date": date(2026, 11, 28)}, "not_business_date"),  # a Saturday
        ({"kind": "statement", "business_date": date(2999, 1, 2)}, "period_not_closed"),
        ({"kind": "statement", "business_date": MONDAY}, "account_required"),
        ({"kind": "eod_positions", "business_date": MONDAY, "account_id": 1}, "firm_report"),
        ({"kind": "statement", "business_date": MONDAY, "account_id": 10**12}, "account_not_found"),
        ({"kind": "no_such_kind", "business_date": MONDAY}, "unknown_report_kind"),
        ({"kind": "statement", "business_date": "2026-11-30"}, "invalid_date"),
        ({"kind": "eod_positions", "business_date": MONDAY, "trigger": "cron"}, "invalid_trigger"),
    ],
)
def test_bad_requests_are_refused_and_record_nothing(scenario, actor, kwargs, code):
    with pytest.raises(ApplicationError) as refused:
        report_run_execute(actor=actor, **kwargs)
    assert refused.value.code == code
    assert not ReportRun.objects.exists()


def test_the_schedule_produces_each_report_once(scenario, actor, mailoutbox):
    first = reports_produce_due(kind="statement", business_date=MONDAY)
    assert len(first.succeeded) == 2 and not first.failed  # both accounts had ledger activity
    second = reports_produce_due(kind="statement", business_date=MONDAY)
    assert (second.succeeded, second.already) == ([], 2)
    assert ReportRun.objects.filter(kind="statement", trigger="schedule").count() == 2
    firm = reports_produce_due(kind="eod_positions", business_date=TUESDAY)
    assert len(firm.succeeded) == 1
    assert mailoutbox == []  # nobody is configured to receive them


def test_a_failing_generator_is_recorded_as_failed(scenario, actor, monkeypatch):
    from apps.reports import kinds

    spec = kinds.KINDS["eod_positions"]

    def broken(period, account_id):
        raise RuntimeError("price feed missing")

    monkeypatch.setitem(kinds.KINDS, "eod_positions", kinds.ReportKind(spec.key, spec.title, spec.scope, broken))
    run = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY)
    assert run.status == "failed" and run.error == "RuntimeError: price feed missing"
    assert not run.files.exists()


def test_files_and_runs_are_append_only_and_a_tampered_file_is_refused(scenario, actor):
    run = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY)
    file = run.files.first()
    for sql in (
        "UPDATE reports_reportfile SET sha256 = 'x' WHERE id = %s",
        "DELETE FROM reports_reportfile WHERE id = %s",
        "DELETE FROM reports_reportrun WHERE id = %s",
        "UPDATE reports_reportrun SET status = 'running', finished_at = NULL WHERE id = %s",
    ):
        pk = file.pk if "reportfile" in sql else run.pk
        with pytest.raises(ProgrammingError, match="pgtrigger"), connection.cursor() as cursor:
            cursor.execute("SAVEPOINT s")
            try:
                cursor.execute(sql, [pk])
            finally:
                cursor.execute("ROLLBACK TO SAVEPOINT s")
    with default_storage.open(file.storage_path, "wb") as handle:
        handle.write(b"%PDF forged")
    with pytest.raises(ApplicationError) as refused:
        report_file_read(file=ReportFile.objects.get(pk=file.pk))
    assert refused.value.code == "report_file_tampered"


def test_report_runs_are_in_the_records_export_and_a_changed_line_is_found(scenario, actor, tmp_path):
    import json

    from apps.compliance.records.export import records_export
    from apps.compliance.records.export_check import export_verify

    run = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY)
    target = tmp_path / "export"
    result = records_export(directory=target)
    (line,) = (target / "report_runs.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert (record["id"], record["kind"], record["business_date"], record["started_by"]) == (
        run.pk,
        "eod_positions",
        "2026-11-30",
        actor.username,
    )
    assert [f["sha256"] for f in record["files"]] == [f.sha256 for f in run.files.order_by("id")]
    manifest = json.loads((target / "manifest.json").read_text())
    assert [s["section"] for s in manifest["sections"]] == ["report-runs"] and result.manifest_sha256
    assert export_verify(target).ok
    (target / "report_runs.jsonl").write_text(line.replace("eod_positions", "statement") + "\n")
    assert any("report_runs.jsonl" in problem for problem in export_verify(target).problems)


def test_backfill_produces_the_missing_runs_of_a_range_once(scenario):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("report_backfill", "--kind", "eod_positions", "--from", "2026-11-27", "--to", "2026-12-01", stdout=out)
    assert "3 business date(s), 3 run(s) produced, 0 failed" in out.getvalue()  # Fri, Mon, Tue
    assert sorted(ReportRun.objects.values_list("business_date", "trigger")) == [
        (date(2026, 11, 27), "backfill"),
        (MONDAY, "backfill"),
        (TUESDAY, "backfill"),
    ]
    out = StringIO()
    call_command("report_backfill", "--kind", "eod_positions", "--from", "2026-11-27", "--to", "2026-12-01", stdout=out)
    assert "0 run(s) produced" in out.getvalue() and ReportRun.objects.count() == 3
