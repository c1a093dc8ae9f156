"""Ledger reads: assets, balances, statements and past balances. Each is a few indexed rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from apps.ledger import errors, locks
from apps.ledger.models import CLIENT_PURPOSES, Asset, JournalEntry, LedgerAccount, Purpose


def asset_get(code: str) -> Asset:
    if not isinstance(code, str):
        raise errors.UnknownAsset(f"Unknown asset {code!r}.")
    asset = locks.scoped_asset(code) or Asset.objects.filter(code=code).first()
    if asset is None:
        raise errors.UnknownAsset(f"Unknown asset {code!r}.")
    locks.remember_asset(asset)
    return asset


@dataclass(frozen=True)
class AssetBalance:
    asset: str
    kind: str
    available: Decimal
    reserved: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.reserved


_AVAILABLE = {Purpose.CASH_AVAILABLE, Purpose.POSITION_AVAILABLE}


def balance_list(*, trading_account_id: int) -> list[AssetBalance]:
    """Available, reserved and total per asset for one trading account (one query)."""
    rows = (
        LedgerAccount.objects.filter(trading_account_id=trading_account_id, purpose__in=sorted(CLIENT_PURPOSES))
        .values_list("asset__code", "asset__kind", "purpose", "balance")
        .order_by("asset__code")
    )
    grouped: dict[str, dict[str, Decimal | str]] = {}
    for code, kind, purpose, balance in rows:
        slot = grouped.setdefault(code, {"kind": kind, "available": Decimal(0), "reserved": Decimal(0)})
        slot["available" if purpose in _AVAILABLE else "reserved"] = balance
    return [
        AssetBalance(
            asset=code, kind=str(v["kind"]), available=Decimal(v["available"]), reserved=Decimal(v["reserved"])
        )
        for code, v in grouped.items()
    ]


def ledger_account_get(*, trading_account_id: int | None, purpose: str, asset_code: str) -> LedgerAccount | None:
    return (
        LedgerAccount.objects.select_related("asset")
        .filter(trading_account_id=trading_account_id, purpose=purpose, asset__code=asset_code)
        .first()
    )


def statement_page(*, ledger_account_id: int, after_version: int = 0, limit: int = 100) -> Sequence[JournalEntry]:
    """Entries of one ledger account in posting order, with their running balance, after a
    version (keyset pagination: a page costs the same at any depth)."""
    limit = max(1, min(int(limit), 1000))
    return list(
        JournalEntry.objects.select_related("transaction")
        .filter(ledger_account_id=ledger_account_id, account_version__gt=after_version)
        .order_by("account_version")[:limit]
    )


def balance_as_of(*, ledger_account_id: int, at: datetime) -> Decimal:
    """The balance of a ledger account at a past instant: the balance after its last entry
    posted at or before ``at`` (one row, found by index)."""
    if at.tzinfo is None:
        raise errors.ValidationError("The instant must be timezone-aware.", code="naive_datetime")
    row = (
        JournalEntry.objects.filter(ledger_account_id=ledger_account_id, posted_at__lte=at)
        .order_by("-posted_at", "-account_version")
        .values_list("balance_after", flat=True)
        .first()
    )
    return row if row is not None else Decimal(0)


@dataclass(frozen=True)
class EntryPage:
    entries: list[JournalEntry]
    # The position after this page: per ledger account, the lowest version already shown.
    next_position: dict[int, int] | None


def account_entries_page(
    *, trading_account_id: int, before: dict[int, int] | None = None, limit: int = 50, asset_code: str | None = None
) -> EntryPage:
    """A trading account's entries on all its ledger accounts, newest first.

    Keyset pagination over (ledger account, version): each of the account's few ledger accounts
    is read backwards from its position through the (ledger_account, account_version) index,
    and the newest ``limit`` are merged by entry id (within one ledger account, id order is
    version order: both are assigned under its row lock). A page costs the same at any depth.
    """
    limit = max(1, min(int(limit), 500))
    accounts = LedgerAccount.objects.filter(trading_account_id=trading_account_id)
    if asset_code is not None:
        accounts = accounts.filter(asset__code=asset_code)
    account_ids = sorted(accounts.values_list("pk", flat=True))
    before = before or {}
    parts = []
    for account_id in account_ids:
        qs = JournalEntry.objects.filter(ledger_account_id=account_id)
        if account_id in before:
            qs = qs.filter(account_version__lt=before[account_id])
        parts.append(qs.order_by("-account_version").values_list("pk", flat=True)[: limit + 1])
    if not parts:
        return EntryPage([], None)
    ids_query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    ids = sorted(ids_query, reverse=True)
    more = len(ids) > limit
    ids = ids[:limit]
    entries = list(
        JournalEntry.objects.select_related("transaction", "transaction__numbering", "asset", "ledger_account")
        .filter(pk__in=ids)
        .order_by("-pk")
    )
    if not more:
        return EntryPage(entries, None)
    position = dict(before)
    for entry in entries:
        position[entry.ledger_account_id] = min(
            position.get(entry.ledger_account_id, entry.account_version + 1), entry.account_version
        )
    return EntryPage(entries, position)


@dataclass(frozen=True)
class StatementSection:
    """One ledger account of a trading account over a period ``[start, end)``."""

    ledger_account: LedgerAccount
    opening: Decimal  # the balance just before ``start``
    closing: Decimal  # the balance just before ``end``


_JUST_BEFORE = timedelta(microseconds=1)


def account_statement(*, trading_account_id: int, start: datetime, end: datetime) -> list[StatementSection]:
    """Opening and closing balances of each of a trading account's ledger accounts over
    ``[start, end)`` (``balance_as_of``: one indexed row each). The lines in between are
    ``account_statement_entries``; per ledger account, opening + their amounts = closing."""
    if start.tzinfo is None or end.tzinfo is None:
        raise errors.ValidationError("The instants must be timezone-aware.", code="naive_datetime")
    accounts = (
        LedgerAccount.objects.select_related("asset")
        .filter(trading_account_id=trading_account_id)
        .order_by("asset__code", "purpose", "pk")
    )
    return [
        StatementSection(
            ledger_account=account,
            opening=balance_as_of(ledger_account_id=account.pk, at=start - _JUST_BEFORE),
            closing=balance_as_of(ledger_account_id=account.pk, at=end - _JUST_BEFORE),
        )
        for account in accounts
    ]


def account_statement_entries(
    *, ledger_account_ids: Sequence[int], start: datetime, end: datetime
) -> QuerySet[JournalEntry]:
    """The entries posted on these ledger accounts in ``[start, end)``, with their transaction,
    per ledger account in posting order (the (ledger account, posted_at) index)."""
    return (
        JournalEntry.objects.select_related("transaction")
        .filter(ledger_account_id__in=list(ledger_account_ids), posted_at__gte=start, posted_at__lt=end)
        .order_by("ledger_account_id", "account_version")
    )
