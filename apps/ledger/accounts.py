"""Finding or opening ledger accounts by (owner, purpose, asset). House accounts face the
outside world and may go negative; client accounts never do."""

from __future__ import annotations

from collections.abc import Sequence

from apps.core.rows import instances, select_list
from apps.ledger import errors, locks
from apps.ledger.models import Asset, LedgerAccount, Purpose


def ledger_account_get_or_create(*, trading_account_id: int | None, purpose: str, asset: Asset) -> LedgerAccount:
    """The ledger account for (owner, purpose, asset), created on first use. House accounts
    face the outside world and may go negative; client accounts never do."""
    if purpose not in Purpose.values:
        raise errors.InvalidLegs(f"Unknown ledger account purpose {purpose!r}.")
    lookup = {"trading_account_id": trading_account_id, "purpose": purpose, "asset": asset}
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is None:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(**lookup, allow_negative=trading_account_id is None)], ignore_conflicts=True
        )
        account = LedgerAccount.objects.get(**lookup)
    account.asset = asset
    return account


def ledger_accounts_resolve(
    wanted: Sequence[tuple[int | None, str, Asset]],
) -> dict[tuple[int | None, str, int], LedgerAccount]:
    """Several ledger accounts at once — client (owner id) or house (None) — keyed by (owner id,
    purpose, asset id): one query when they exist, created on first use."""

    keys = list({(owner, purpose, asset.pk) for owner, purpose, asset in wanted})

    def lookup() -> dict[tuple[int | None, str, int], LedgerAccount]:
        # One indexed join against the wanted keys, client accounts then house accounts (an OR of
        # hundreds of Q objects costs more to compile than to run).
        wanted_keys = [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]]
        columns = select_list(LedgerAccount, "a")
        rows = instances(
            LedgerAccount,
            f"SELECT {columns} FROM ledger_ledgeraccount a"  # noqa: S608 - the columns come from the model
            " JOIN unnest(%s::bigint[], %s::text[], %s::bigint[]) AS w(owner, purpose, asset_id)"
            " ON a.trading_account_id = w.owner AND a.purpose = w.purpose AND a.asset_id = w.asset_id"
            f" UNION ALL SELECT {columns} FROM ledger_ledgeraccount a"
            " JOIN unnest(%s::bigint[], %s::text[], %s::bigint[]) AS w(owner, purpose, asset_id)"
            " ON w.owner IS NULL AND a.trading_account_id IS NULL AND a.purpose = w.purpose"
            " AND a.asset_id = w.asset_id",
            wanted_keys + wanted_keys,
        )
        return {(a.trading_account_id, a.purpose, a.asset_id): a for a in rows}

    known = locks.scoped_accounts()  # resolved earlier in this batch: rows never change owner
    if known is not None and all((o, p, a.pk) in known for o, p, a in wanted):
        return {(o, p, a.pk): known[(o, p, a.pk)] for o, p, a in wanted}
    found = lookup()
    missing = [(o, p, a) for o, p, a in wanted if (o, p, a.pk) not in found]
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(trading_account_id=o, purpose=p, asset=a, allow_negative=o is None) for o, p, a in missing],
            ignore_conflicts=True,
        )
        found = lookup()
    assets = {a.pk: a for _, _, a in wanted}
    for account in found.values():
        account.asset = assets[account.asset_id]
    if known is not None:
        known.update(found)
    return found


def ledger_accounts_for(
    *, trading_account_id: int, wanted: Sequence[tuple[str, Asset]]
) -> dict[tuple[str, int], LedgerAccount]:
    """Several client ledger accounts at once, keyed by (purpose, asset id)."""
    found = ledger_accounts_resolve([(trading_account_id, purpose, asset) for purpose, asset in wanted])
    return {(purpose, asset_id): account for (_, purpose, asset_id), account in found.items()}
