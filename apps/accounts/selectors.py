"""Trading-account reads, filtered in SQL by what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.accounts.models import TradingAccount
from apps.accounts.permissions import accounts_visible_to, with_trade_flag
from apps.core.ids import parse_id

if TYPE_CHECKING:
    from apps.users.models import User


def account_get_visible(user: User, account_id: object) -> TradingAccount | None:
    """The account if the user may view it, else None (the API answers 404 either way), with
    ``can_trade`` annotated (one query)."""
    pk = parse_id(account_id)
    if pk is None:
        return None
    return with_trade_flag(user, accounts_visible_to(user).filter(pk=pk)).first()
