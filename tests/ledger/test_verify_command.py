"""``manage.py verify_ledger`` prints what it finds and fails on any mismatch."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.ledger import services

pytestmark = pytest.mark.django_db


def run() -> str:
    out, err = StringIO(), StringIO()
    call_command("verify_ledger", "--no-progress", stdout=out, stderr=err)
    return out.getvalue()


def test_clean_ledger_passes(funded, actor):
    services.cash_withdraw(actor=actor, trading_account=funded, currency="USD", amount="10", idempotency_key="w")
    output = run()
    assert "ledger OK" in output
    assert "2 transactions checked" in output


def test_a_tampered_balance_fails_with_the_account_named(funded):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_ledgeraccount SET balance = balance + 5 WHERE trading_account_id = %s "
            "AND purpose = 'cash_available' RETURNING id",
            [funded.pk],
        )
        (account_id,) = cursor.fetchone()
    with pytest.raises(CommandError, match="ledger verification FAILED"):
        run()
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--no-progress", stdout=out, stderr=StringIO())
    assert (
        f"ledger account {account_id}: stored balance 1005.00000000 != sum of entries 1000.00000000" in out.getvalue()
    )
