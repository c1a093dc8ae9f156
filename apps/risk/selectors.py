"""Risk reads for the placing transaction: trading states, restrictions, effective limits."""

from __future__ import annotations

from typing import Any

from django.db import connection
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


_CONTEXTS = """
SELECT k.account_id, k.instrument_id, st.states, rs.restricted, {limits}
  FROM unnest(%(accounts)s::bigint[], %(instruments)s::bigint[]) AS k(account_id, instrument_id)
  LEFT JOIN risk_limits f ON f.account_id IS NULL
  LEFT JOIN risk_limits a ON a.account_id = k.account_id
 CROSS JOIN LATERAL (
        SELECT coalesce(json_object_agg(scope, state), '{{}}'::json) AS states FROM risk_tradingstate t
         WHERE t.scope = 'global' OR (t.scope = 'account' AND t.account_id = k.account_id)
            OR (t.scope = 'instrument' AND t.instrument_id = k.instrument_id)) st
 CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT 1 FROM risk_restrictedinstrument r
                        WHERE r.instrument_id = k.instrument_id
                          AND (r.account_id IS NULL OR r.account_id = k.account_id))
               AS restricted) rs
""".format(limits=", ".join(f"coalesce(a.{name}, f.{name})" for name in LIMIT_FIELDS))  # noqa: S608 - column names are constants


def risk_contexts(
    pairs: list[tuple[int, int]],
) -> dict[tuple[int, int], tuple[dict[str, str], bool, dict[str, Any]]]:
    """Trading states, restriction and effective limits of many (account, instrument) pairs in one
    query (the placing hot path)."""
    with connection.cursor() as cursor:
        cursor.execute(_CONTEXTS, {"accounts": [p[0] for p in pairs], "instruments": [p[1] for p in pairs]})
        return {
            (account, instrument): (dict(states), bool(restricted), dict(zip(LIMIT_FIELDS, limits, strict=True)))
            for account, instrument, states, restricted, *limits in cursor.fetchall()
        }
