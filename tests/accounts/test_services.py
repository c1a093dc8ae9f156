from __future__ import annotations

import pytest

from apps.accounts.models import AccountStatus
from apps.accounts.services import trading_account_create, trading_account_set_status
from apps.core.errors import ApplicationError
from apps.ledger.models import LedgerAccount
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_open_account_creates_cash_ledger_accounts_and_grants_owner(actor):
    owner = UserFactory()
    account = trading_account_create(actor=actor, name="Alice", base_currency="EUR", owner=owner)
    assert account.number.startswith("BO") and len(account.number) == 10
    assert account.status == AccountStatus.OPEN
    assert set(LedgerAccount.objects.filter(trading_account=account).values_list("purpose", "asset__code")) == {
        ("cash_available", "EUR"),
        ("cash_reserved", "EUR"),
    }
    assert owner.has_perm("accounts.view_tradingaccount", account)
    assert owner.has_perm("accounts.trade_tradingaccount", account)
    assert not UserFactory().has_perm("accounts.view_tradingaccount", account)


def test_account_numbers_are_unique(actor):
    numbers = {trading_account_create(actor=actor, name=f"A{i}", base_currency="USD").number for i in range(5)}
    assert len(numbers) == 5


@pytest.mark.parametrize(
    ("name", "currency", "code"),
    [("", "USD", "invalid_name"), ("x" * 129, "USD", "invalid_name"), ("Ok", "XXX", "unknown_asset")],
)
def test_bad_account_input(actor, name, currency, code):
    from apps.accounts.models import TradingAccount

    with pytest.raises(ApplicationError) as info:
        trading_account_create(actor=actor, name=name, base_currency=currency)
    assert info.value.code == code
    assert not TradingAccount.objects.exists()


def test_status_change(account, actor):
    changed = trading_account_set_status(actor=actor, account=account, status="restricted")
    assert changed.status == "restricted"
    with pytest.raises(ApplicationError) as info:
        trading_account_set_status(actor=actor, account=account, status="frozen")
    assert info.value.code == "invalid_status"
