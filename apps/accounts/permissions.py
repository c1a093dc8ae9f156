"""The one permission policy for trading accounts: used by the API, the admin and services.

- Staff roles are Django groups: ``operations`` (open accounts, move cash, grant access, set
  reference prices) and ``compliance`` (read everything, trading-state controls, restricted
  list). A superuser holds both roles.
- Everyone else sees exactly the accounts they hold a ``view`` object permission on
  (django-guardian, directly or through a group), and may trade on those they hold ``trade`` on.
- An account a user may not view does not exist for them (404, in lists too); one they may view
  but not trade answers 403 on trading.
Visibility is a SQL filter, never a per-row check in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Value
from rest_framework.permissions import BasePermission

from apps.accounts.models import (
    TradingAccount,
    TradingAccountGroupObjectPermission,
    TradingAccountUserObjectPermission,
)
from apps.users.roles import COMPLIANCE, OPERATIONS

if TYPE_CHECKING:
    from apps.users.models import User

VIEW_CODENAME = "view_tradingaccount"
TRADE_CODENAME = "trade_tradingaccount"
GRANTABLE = {"view": VIEW_CODENAME, "trade": TRADE_CODENAME}


def roles_of(user: Any) -> frozenset[str]:
    """The staff roles the user holds (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_backoffice_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset({OPERATIONS, COMPLIANCE})
        else:
            cached = frozenset(user.groups.filter(name__in=(OPERATIONS, COMPLIANCE)).values_list("name", flat=True))
        user._backoffice_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """The one role predicate: the API (``HasRole``) and the admin (``RoleAdminMixin``) ask it
    whether a user may do a staff write. Active users in one of the role groups; superusers."""
    return bool(roles_of(user) & set(roles))


def sees_all_accounts(user: Any) -> bool:
    return bool(roles_of(user))


def _granted(user: User, codename: str) -> Q:
    """Accounts on which the user holds ``codename``, directly or through a group (SQL)."""
    direct = TradingAccountUserObjectPermission.objects.filter(
        user_id=user.pk, permission__codename=codename, permission__content_type__app_label="accounts"
    ).values("content_object_id")
    by_group = TradingAccountGroupObjectPermission.objects.filter(
        group__user=user.pk, permission__codename=codename, permission__content_type__app_label="accounts"
    ).values("content_object_id")
    return Q(pk__in=direct) | Q(pk__in=by_group)


def accounts_visible_to(user: Any, queryset: QuerySet[TradingAccount] | None = None) -> QuerySet[TradingAccount]:
    """The accounts the user may view, as a queryset (staff roles: all of them)."""
    base = queryset if queryset is not None else TradingAccount.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return base.none()
    if sees_all_accounts(user):
        return base
    return base.filter(_granted(user, VIEW_CODENAME))


def visible_account_ids(user: Any) -> QuerySet[TradingAccount, Any]:
    """A subquery of visible account ids, to filter orders, fills and entries in SQL."""
    return accounts_visible_to(user).values("pk")


def with_trade_flag(user: Any, queryset: QuerySet[TradingAccount]) -> QuerySet[TradingAccount]:
    """Annotate ``can_trade`` (trade object permission; superusers always) in the same query."""
    if user.is_superuser:
        return queryset.annotate(can_trade=Value(True, output_field=BooleanField()))
    return queryset.annotate(can_trade=ExpressionWrapper(_granted(user, TRADE_CODENAME), output_field=BooleanField()))


def can_trade(user: Any, account: TradingAccount) -> bool:
    """Trade permission on this account (object permission, directly or by group; superusers)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return TradingAccount.objects.filter(_granted(user, TRADE_CODENAME), pk=account.pk).exists()


class HasRole(BasePermission):
    """DRF permission: the user holds one of ``roles``."""

    roles: tuple[str, ...] = ()
    message = "This needs a staff role."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, *self.roles)


class IsOperations(HasRole):
    roles = (OPERATIONS,)
    message = "This needs the operations role."


class IsCompliance(HasRole):
    roles = (COMPLIANCE,)
    message = "This needs the compliance role."


class RoleAdminMixin:
    """For a ``ModelAdmin`` (or inline): who may add, change and delete is the role predicate the
    API asks (``has_role``), not Django's model permissions, so the two doors cannot drift. An
    empty tuple means nobody (superusers included). Viewing stays with the model permissions the
    role groups hold (``apps.users.roles``)."""

    add_roles: tuple[str, ...] = ()
    change_roles: tuple[str, ...] = ()
    delete_roles: tuple[str, ...] = ()

    def has_add_permission(self, request: Any, *args: Any) -> bool:
        return has_role(request.user, *self.add_roles)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return has_role(request.user, *self.change_roles)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return has_role(request.user, *self.delete_roles)
