"""Recompute the ledger from its entries and report every mismatch.

Checks: each ledger account's stored balance and version against its entries (sum,
count, contiguous versions, running balances); each transaction balances per asset and
has at least two entries; the hash chain (``apps.core.chain.chain_verify``): numbers without
a gap, every transaction's content as hashed when it was numbered, every link joined to the
previous one, no committed transaction left out; each reserved account equals the sum of its
active holds; no forbidden negative balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import connection

from apps.core.chain import ChainReport, chain_verify
from apps.ledger.chain import LEDGER_CHAIN
from apps.ledger.sequencing import sequence_assign

CHUNK = 2000


@dataclass
class Report:
    accounts_checked: int = 0
    transactions_checked: int = 0
    problems: list[str] = field(default_factory=list)
    chain: ChainReport = field(default_factory=lambda: ChainReport(chain=LEDGER_CHAIN.name))

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(sql: str, params: Sequence[int] | None = None) -> Iterator[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        yield from cursor.fetchall()


def _account_id_chunks() -> Iterator[tuple[int, int]]:
    ((low, high),) = _rows("SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM ledger_ledgeraccount")
    assert isinstance(low, int) and isinstance(high, int)
    start = low
    while start <= high:
        yield start, min(start + CHUNK - 1, high)
        start += CHUNK


def verify(
    progress: Callable[[int], object] | None = None, *, chain_progress: Callable[[int], object] | None = None
) -> Report:
    """Run every check. ``progress(n)``: ``n`` more ledger accounts checked; ``chain_progress(n)``:
    ``n`` more links of the hash chain recomputed (for progress bars, ``apps.core.progress``)."""
    sequence_assign()  # number what has committed, so that only real gaps show
    report = Report()
    tick = progress or (lambda n: None)
    for low, high in _account_id_chunks():
        for account_id, balance, version, total, count, max_version, last_balance, negative in _rows(
            """
            SELECT a.id, a.balance, a.version, coalesce(sum(e.amount), 0), count(e.id),
                   coalesce(max(e.account_version), 0),
                   (SELECT balance_after FROM ledger_journalentry
                     WHERE ledger_account_id = a.id ORDER BY account_version DESC LIMIT 1),
                   (NOT a.allow_negative AND a.balance < 0)
              FROM ledger_ledgeraccount a LEFT JOIN ledger_journalentry e ON e.ledger_account_id = a.id
             WHERE a.id BETWEEN %s AND %s
             GROUP BY a.id ORDER BY a.id
            """,
            [low, high],
        ):
            report.accounts_checked += 1
            if balance != total:
                report.problems.append(
                    f"ledger account {account_id}: stored balance {balance} != sum of entries {total}"
                )
            if not (version == count == max_version):
                report.problems.append(
                    f"ledger account {account_id}: version {version}, {count} entries, "
                    f"highest entry version {max_version}"
                )
            if count and last_balance != balance:
                report.problems.append(
                    f"ledger account {account_id}: last balance_after {last_balance} != balance {balance}"
                )
            if negative:
                report.problems.append(f"ledger account {account_id}: negative balance {balance} where forbidden")
        for account_id, version, running, recorded in _rows(
            """
            SELECT ledger_account_id, account_version, running, balance_after FROM (
                SELECT ledger_account_id, account_version, balance_after,
                       sum(amount) OVER (PARTITION BY ledger_account_id ORDER BY account_version) AS running
                  FROM ledger_journalentry WHERE ledger_account_id BETWEEN %s AND %s) t
             WHERE running <> balance_after ORDER BY ledger_account_id, account_version LIMIT 20
            """,
            [low, high],
        ):
            report.problems.append(
                f"ledger account {account_id}: entry version {version} records balance {recorded}, "
                f"running sum is {running}"
            )
        tick(high - low + 1)

    for txn_id, asset_id, total in _rows(
        "SELECT transaction_id, asset_id, sum(amount) FROM ledger_journalentry "
        "GROUP BY transaction_id, asset_id HAVING sum(amount) <> 0 ORDER BY transaction_id LIMIT 50"
    ):
        report.problems.append(f"transaction {txn_id}: asset {asset_id} sums to {total}, not zero")
    for txn_id, count in _rows(
        "SELECT t.id, count(e.id) FROM ledger_journaltransaction t LEFT JOIN ledger_journalentry e "
        "ON e.transaction_id = t.id GROUP BY t.id HAVING count(e.id) < 2 ORDER BY t.id LIMIT 50"
    ):
        report.problems.append(f"transaction {txn_id}: {count} entries (a transaction needs at least two)")

    ((count,),) = _rows("SELECT count(*) FROM ledger_journaltransaction")
    assert isinstance(count, int)
    report.transactions_checked = count
    report.chain = chain_verify(LEDGER_CHAIN, chunk=CHUNK, progress=chain_progress)
    report.problems[:0] = report.chain.problems(LEDGER_CHAIN.record_noun)  # tamper evidence first

    for account_id, balance, held in _rows(
        """
        SELECT a.id, a.balance, coalesce(sum(h.remaining) FILTER (WHERE h.status = 'active'), 0)
          FROM ledger_ledgeraccount a LEFT JOIN ledger_hold h ON h.reserved_account_id = a.id
         WHERE a.purpose IN ('cash_reserved', 'position_reserved')
         GROUP BY a.id HAVING a.balance <> coalesce(sum(h.remaining) FILTER (WHERE h.status = 'active'), 0)
        """
    ):
        report.problems.append(f"reserved account {account_id}: balance {balance} != active holds {held}")
    return report
