"""Risk reads for the placing transaction: trading states, restrictions, effective limits."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.risk.models import LIMIT_FIELDS, RestrictedInstrument, RiskLimits, TradingState


def trading_states_for(*, account_id: int, instrument_id: int) -> dict[str, str]:
    rows = TradingState.objects.filter(
        Q(scope="global")
        | Q(scope="account", account_id=account_id)
        | Q(scope="instrument", instrument_id=instrument_id)
    ).values_list("scope", "state")
    return dict(rows)


def is_restricted(*, account_id: int, instrument_id: int) -> bool:
    return RestrictedInstrument.objects.filter(
        Q(account__isnull=True) | Q(account_id=account_id), instrument_id=instrument_id
    ).exists()


def effective_limits(*, account_id: int) -> dict[str, Any]:
    """The account's limits over the firm defaults; a limit set nowhere is None (fails closed)."""
    rows = {
        row["account_id"]: row
        for row in RiskLimits.objects.filter(Q(account__isnull=True) | Q(account_id=account_id)).values(
            "account_id", *LIMIT_FIELDS
        )
    }
    firm, own = rows.get(None, {}), rows.get(account_id, {})
    return {name: own.get(name) if own.get(name) is not None else firm.get(name) for name in LIMIT_FIELDS}
