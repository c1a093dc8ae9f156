"""Trading-account reads, filtered in SQL by what the user may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from apps.accounts.models import TradingAccount
from apps.accounts.permissions import accounts_visible_to, with_trade_flag
from apps.core.ids import parse_id

if TYPE_CHECKING:
    from apps.users.models import User


def accounts_get_visible(user: User, account_ids: Iterable[int]) -> dict[int, TradingAccount]:
    """The accounts among ``account_ids`` the user may view, by id, with ``can_trade`` annotated
    (one query for any number)."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {a.pk: a for a in with_trade_flag(user, accounts_visible_to(user).filter(pk__in=ids))}


def account_get_visible(user: User, account_id: object) -> TradingAccount | None:
    """The account if the user may view it, else None (the API answers 404 either way), with
    ``can_trade`` annotated (one query)."""
    pk = parse_id(account_id)
    if pk is None:
        return None
    return with_trade_flag(user, accounts_visible_to(user).filter(pk=pk)).first()
