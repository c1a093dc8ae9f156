"""Risk reads for the placing transaction: trading states, restrictions, effective limits;
and the exposure snapshots of the mark-to-market job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from apps.risk.models import (
    FIRM_ONLY_LIMITS,
    LIMIT_FIELDS,
    ExposureSnapshot,
    RestrictedInstrument,
    RiskLimits,
    TradingState,
)


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
    return _effective(rows.get(None, {}), rows.get(account_id, {}))


def _effective(firm: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """An account's value over the firm's, except for the firm-wide limits (the firm's only)."""
    return {
        name: own.get(name) if own.get(name) is not None and name not in FIRM_ONLY_LIMITS else firm.get(name)
        for name in LIMIT_FIELDS
    }


def limits_for_accounts(*, account_ids: list[int]) -> dict[int | None, dict[str, Any]]:
    """The effective limits of many accounts in one query, and the firm row's own under None."""
    rows = {
        row["account_id"]: row
        for row in RiskLimits.objects.filter(Q(account__isnull=True) | Q(account_id__in=account_ids)).values(
            "account_id", *LIMIT_FIELDS
        )
    }
    firm = rows.get(None, {})
    result: dict[int | None, dict[str, Any]] = {pk: _effective(firm, rows.get(pk, {})) for pk in account_ids}
    result[None] = {name: firm.get(name) for name in LIMIT_FIELDS}
    return result


_CONTEXTS = """
SELECT k.account_id, k.instrument_id, st.states, rs.restricted,
       xa.taken_at, xa.equity, xa.daily_pnl, xf.gross_exposure, {limits}
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
  LEFT JOIN LATERAL (
        SELECT x.taken_at, x.equity, x.daily_pnl FROM risk_exposuresnapshot x
         WHERE x.account_id = k.account_id ORDER BY x.taken_at DESC, x.id DESC LIMIT 1) xa ON true
  LEFT JOIN LATERAL (
        SELECT x.gross_exposure FROM risk_exposuresnapshot x
         WHERE x.account_id IS NULL ORDER BY x.taken_at DESC, x.id DESC LIMIT 1) xf ON true
""".format(  # noqa: S608 - column names are constants
    limits=", ".join(
        f"f.{name}" if name in FIRM_ONLY_LIMITS else f"coalesce(a.{name}, f.{name})" for name in LIMIT_FIELDS
    )
)


@dataclass(frozen=True)
class Exposure:
    """What the pre-trade checks read from the latest mark-to-market: the account's latest
    snapshot (``taken_at`` None: none yet) and the firm's latest gross exposure (0: none yet)."""

    taken_at: datetime | None
    equity: Decimal | None
    daily_pnl: Decimal
    firm_gross_exposure: Decimal


@dataclass(frozen=True)
class RiskContext:
    states: dict[str, str]
    restricted: bool
    limits: dict[str, Any]
    exposure: Exposure


def risk_contexts(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], RiskContext]:
    """Trading states, restriction, effective limits and the latest exposure snapshots of many
    (account, instrument) pairs in one query (the placing hot path)."""
    with connection.cursor() as cursor:
        cursor.execute(_CONTEXTS, {"accounts": [p[0] for p in pairs], "instruments": [p[1] for p in pairs]})
        return {
            (account, instrument): RiskContext(
                states=dict(states),
                restricted=bool(restricted),
                limits=dict(zip(LIMIT_FIELDS, limits, strict=True)),
                exposure=Exposure(
                    taken_at=taken_at,
                    equity=equity,
                    daily_pnl=daily_pnl if daily_pnl is not None else Decimal(0),
                    firm_gross_exposure=gross if gross is not None else Decimal(0),
                ),
            )
            for account, instrument, states, restricted, taken_at, equity, daily_pnl, gross, *limits in (
                cursor.fetchall()
            )
        }


# --- exposure snapshots ----------------------------------------------------------------------------


def exposure_snapshot_series(account_id: int | None, since: datetime, until: datetime) -> QuerySet[ExposureSnapshot]:
    """An account's snapshots (None: the firm-wide rows) taken in [since, until), oldest first."""
    return ExposureSnapshot.objects.filter(account_id=account_id, taken_at__gte=since, taken_at__lt=until).order_by(
        "taken_at", "id"
    )


def exposure_snapshot_latest(account_id: int | None) -> ExposureSnapshot | None:
    """An account's latest snapshot (None: the firm-wide row), or None if it was never marked."""
    return ExposureSnapshot.objects.filter(account_id=account_id).order_by("-taken_at", "-id").first()


def exposure_baselines(*, account_ids: list[int], before: datetime) -> dict[int, Decimal]:
    """Total P&L (realized + unrealized) of each account's last snapshot taken before ``before``,
    for the accounts that have one: one query."""
    rows = (
        ExposureSnapshot.objects.filter(account_id__in=account_ids, taken_at__lt=before)
        .order_by("account_id", "-taken_at", "-id")
        .distinct("account_id")
        .values_list("account_id", "realized_pnl", "unrealized_pnl")
    )
    return {account: realized + unrealized for account, realized, unrealized in rows}
