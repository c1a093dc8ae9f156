"""``seed_demo`` and ``setup_schedules``: what they create, and that a second run changes nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.accounts.models import TradingAccount
from apps.instruments.models import Instrument, ReferencePrice
from apps.ledger.models import Hold, HoldStatus, JournalEntry, JournalTransaction, LedgerAccount
from apps.ledger.selectors import balance_list
from apps.users.models import User


def _snapshot() -> dict[str, object]:
    return {
        "users": sorted(User.objects.values_list("username", "password", "is_staff", "is_superuser")),
        "groups": sorted(
            (g.name, tuple(sorted(g.permissions.values_list("codename", flat=True)))) for g in Group.objects.all()
        ),
        "accounts": TradingAccount.objects.count(),
        "ledger_accounts": sorted(LedgerAccount.objects.values_list("pk", "balance", "version")),
        "transactions": JournalTransaction.objects.count(),
        "entries": JournalEntry.objects.count(),
        "holds": Hold.objects.count(),
        "prices": sorted(ReferencePrice.objects.values_list("instrument__symbol", "price", "as_of")),
    }


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_and_is_idempotent() -> None:
    call_command("seed_demo", stdout=StringIO())
    first = _snapshot()
    call_command("seed_demo", stdout=StringIO())
    assert _snapshot() == first

    assert set(Instrument.objects.values_list("symbol", flat=True)) >= {"AAPL", "MSFT", "SPY"}
    alice = TradingAccount.objects.get(owners__username="alice")
    (usd,) = balance_list(trading_account_id=alice.pk)
    assert (usd.available, usd.reserved) == (Decimal("98107.50"), Decimal("1892.50"))
    assert Hold.objects.get(available_account__trading_account=alice).status == HoldStatus.ACTIVE
    bob = TradingAccount.objects.get(owners__username="bob")
    assert balance_list(trading_account_id=bob.pk)[0].available == Decimal("25000.00")


@pytest.mark.django_db
def test_demo_logins_and_staff_roles() -> None:
    call_command("seed_demo", stdout=StringIO())
    admin, ops, compliance = (User.objects.get(username=n) for n in ("admin", "ops", "compliance"))
    assert admin.is_superuser and admin.is_staff
    assert ops.is_staff and not ops.is_superuser and ops.groups.filter(name="operations").exists()
    assert compliance.is_staff and compliance.groups.filter(name="compliance").exists()
    assert compliance.has_perm("ledger.view_journaltransaction")
    assert compliance.has_perm("accounts.view_tradingaccount")
    assert not compliance.has_perm("instruments.change_instrument")
    assert ops.has_perm("instruments.change_instrument") and ops.has_perm("instruments.change_referenceprice")
    assert not ops.has_perm("ledger.change_hold")

    for username, password in [("alice", "alice-demo"), ("bob", "bob-demo"), ("compliance", "compliance-demo")]:
        assert Client().login(username=username, password=password), username
    client = Client()
    assert client.login(username="compliance", password="compliance-demo")
    assert client.get("/admin/ledger/journaltransaction/").status_code == 200
    assert client.get("/admin/accounts/tradingaccount/").status_code == 200


@pytest.mark.django_db
def test_seed_demo_recreates_missing_role_groups() -> None:
    Group.objects.all().delete()
    call_command("seed_demo", stdout=StringIO())
    assert set(Group.objects.values_list("name", flat=True)) >= {"operations", "compliance"}


@pytest.mark.django_db
def test_setup_schedules_stores_the_nightly_verification_once() -> None:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    call_command("setup_schedules", stdout=out)
    assert "unchanged schedule" in out.getvalue()

    task = PeriodicTask.objects.get(task="ledger.verify")
    assert task.enabled and task.crontab is not None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "2", "*")
    assert str(crontab.timezone) == "UTC"
    assert PeriodicTask.objects.filter(task="ledger.verify").count() == 1
    assert CrontabSchedule.objects.filter(minute="30", hour="2").count() == 1


@pytest.mark.django_db
def test_setup_schedules_repairs_an_edited_schedule() -> None:
    call_command("setup_schedules", stdout=StringIO())
    PeriodicTask.objects.filter(task="ledger.verify").update(enabled=False)
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert "updated schedule" in out.getvalue()
    assert PeriodicTask.objects.get(task="ledger.verify").enabled


@pytest.mark.django_db
def test_the_demo_has_reports_to_show_for_the_last_closed_business_date(mailoutbox) -> None:
    import time_machine

    from apps.reports.kinds import KINDS
    from apps.reports.models import ReportRun
    from apps.reports.production import reports_produce_due

    with time_machine.travel("2026-12-02T12:00:00Z"):  # a Wednesday: Tuesday's close was 15 hours ago
        call_command("seed_demo", stdout=StringIO())
        for kind in sorted(KINDS):
            produced = reports_produce_due(kind=kind)
            assert produced.business_date == "2026-12-01" and produced.succeeded and not produced.failed, produced
    statements = ReportRun.objects.filter(kind="statement")
    assert sorted(statements.values_list("account__owners__username", flat=True)) == ["alice", "bob"]
    delivered = {to for message in mailoutbox for to in message.to}
    assert delivered == {"alice@example.test", "bob@example.test", "compliance@example.test"}
