"""Trading-account write services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection, transaction
from guardian.shortcuts import assign_perm

from apps.accounts.models import AccountStatus, TradingAccount
from apps.core.errors import NotFound, ValidationError
from apps.ledger import services as ledger_services
from apps.ledger.models import AssetKind
from apps.ledger.selectors import asset_get

if TYPE_CHECKING:
    from apps.users.models import User

ACCOUNT_PERMISSIONS = {"view": "accounts.view_tradingaccount", "trade": "accounts.trade_tradingaccount"}


def _next_number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('accounts_tradingaccount_number_seq')")
        (value,) = cursor.fetchone()
    return f"BO{value:08d}"


def trading_account_create(*, actor: User, name: str, base_currency: str, owner: User | None = None) -> TradingAccount:
    """Open a trading account with its cash ledger accounts; the owner gets view and trade."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ValidationError("The account name must be 1 to 128 characters.", code="invalid_name")
    asset = asset_get(base_currency)
    if asset.kind != AssetKind.CURRENCY:
        raise ValidationError(f"{base_currency!r} is not a currency.", code="unknown_asset")
    with transaction.atomic(durable=True):
        account = TradingAccount.objects.create(number=_next_number(), name=name, base_currency=asset.code)
        ledger_services.ledger_accounts_open(trading_account=account, currencies=[asset.code])
        if owner is not None:
            account.owners.add(owner)
            for perm in ACCOUNT_PERMISSIONS.values():
                assign_perm(perm, owner, account)
    return account


def trading_account_set_status(*, actor: User, account: TradingAccount, status: str) -> TradingAccount:
    if status not in AccountStatus.values:
        raise ValidationError(f"Unknown account status {status!r}.", code="invalid_status")
    with transaction.atomic(durable=True):
        locked = TradingAccount.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
        if locked is None:
            raise NotFound("No such trading account.")
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
    return locked
