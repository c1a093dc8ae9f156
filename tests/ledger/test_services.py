"""Ledger services: the behaviour a caller relies on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.ledger import errors, services
from apps.ledger.models import JournalTransaction, Purpose
from apps.ledger.selectors import balance_list
from tests.conftest import balance

pytestmark = pytest.mark.django_db


def test_deposit_credits_available_cash_and_is_idempotent(account, actor):
    first = services.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="250.25", idempotency_key="dep-1")
    again = services.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="250.25", idempotency_key="dep-1")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert balance(account) == Decimal("250.25")
    assert JournalTransaction.objects.count() == 1
    (usd,) = balance_list(trading_account_id=account.pk)
    assert (usd.available, usd.reserved, usd.total) == (Decimal("250.25"), 0, Decimal("250.25"))
