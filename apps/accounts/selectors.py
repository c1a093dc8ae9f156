"""Trading-account reads, filtered in SQL by what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from apps.accounts.models import TradingAccount

if TYPE_CHECKING:
    from apps.users.models import User


def account_list_visible_to(user: User) -> QuerySet[TradingAccount]:
    """Accounts the user may view: staff roles with the global permission see all."""
    return get_objects_for_user(
        user, "accounts.view_tradingaccount", klass=TradingAccount.objects.all(), accept_global_perms=True
    )
