"""Trading-account write services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection, transaction
from guardian.shortcuts import assign_perm, remove_perm

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


def _account_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ValidationError("The account name must be 1 to 128 characters.", code="invalid_name", field="name")
    return name


def _locked(account: TradingAccount) -> TradingAccount:
    locked = TradingAccount.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
    if locked is None:
        raise NotFound("No such trading account.", code="account_not_found")
    return locked


def trading_account_create(*, actor: User, name: str, base_currency: str, owner: User | None = None) -> TradingAccount:
    """Open a trading account with its cash ledger accounts; the owner gets view and trade."""
    name = _account_name(name)
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
    """Open, restrict or close the account (audited: auditlog tracks the account's fields)."""
    if status not in AccountStatus.values:
        raise ValidationError(f"Unknown account status {status!r}.", code="invalid_status", field="status")
    with transaction.atomic(durable=True):
        locked = _locked(account)
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
    return locked


def trading_account_rename(*, actor: User, account: TradingAccount, name: str) -> TradingAccount:
    name = _account_name(name)
    with transaction.atomic(durable=True):
        locked = _locked(account)
        locked.name = name
        locked.save(update_fields=["name", "updated_at"])
    return locked


def trading_account_owner_add(*, actor: User, account: TradingAccount, user: User) -> None:
    """Make ``user`` an owner: the ownership and its grants (view and trade on the account), in
    one transaction. Audited: auditlog tracks the owners and the grant rows. Idempotent."""
    if not user.is_active:
        raise ValidationError(f"User {user.get_username()!r} is not active.", code="inactive_user", field="owners")
    with transaction.atomic(durable=True):
        locked = _locked(account)
        locked.owners.add(user)
        for perm in ACCOUNT_PERMISSIONS.values():
            assign_perm(perm, user, locked)


def trading_account_owner_remove(*, actor: User, account: TradingAccount, user: User) -> None:
    """``user`` is no longer an owner: the ownership goes and so do the grants that came with
    it (view and trade given to the user directly; grants through a group stay). Idempotent."""
    with transaction.atomic(durable=True):
        locked = _locked(account)
        locked.owners.remove(user)
        for perm in ACCOUNT_PERMISSIONS.values():
            remove_perm(perm, user, locked)


def account_access_grant(*, actor: User, account: TradingAccount, user: User, permissions: list[str]) -> list[str]:
    """Give ``user`` exactly ``permissions`` (``view``, ``trade``) on the account; ``trade``
    implies ``view``. Returns the permissions now held. Idempotent."""
    from apps.accounts.permissions import GRANTABLE

    wanted = set(permissions)
    unknown = wanted - set(GRANTABLE)
    if unknown or not wanted:
        raise ValidationError(
            "permissions must be a non-empty subset of ['view', 'trade'].",
            code="invalid_permissions",
            field="permissions",
        )
    if not user.is_active:
        raise ValidationError(f"User {user.get_username()!r} is not active.", code="inactive_user", field="username")
    if "trade" in wanted:
        wanted.add("view")
    with transaction.atomic(durable=True):
        TradingAccount.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
        for name, codename in GRANTABLE.items():
            perm = f"accounts.{codename}"
            if name in wanted:
                assign_perm(perm, user, account)
            else:
                remove_perm(perm, user, account)
    return sorted(wanted, key=list(GRANTABLE).index)


def account_access_revoke(*, actor: User, account: TradingAccount, user: User) -> None:
    """Remove every permission ``user`` holds directly on the account (owners lose trading too)."""
    from apps.accounts.models import TradingAccountUserObjectPermission

    with transaction.atomic(durable=True):
        TradingAccount.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
        grants = list(TradingAccountUserObjectPermission.objects.filter(content_object=account, user=user))
        if not grants:
            raise NotFound(f"User {user.get_username()!r} holds no permission on this account.", code="no_grant")
        for grant in grants:
            grant.delete()
