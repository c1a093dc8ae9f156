"""Read latencies on an account with a long history, through the selectors the API uses."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.report import ReadFigure

PAGE = 100


def _sample(label: str, reads: int, read: Callable[[], object], note: str = "") -> ReadFigure:
    for _ in range(min(20, reads)):  # warm the connection, plan and buffer caches
        read()
    samples = []
    for _ in range(reads):
        began = time.perf_counter()
        read()
        samples.append(time.perf_counter() - began)
    return ReadFigure(label, samples, note)


def measure(*, trading_account_id: int, ledger_account_id: int, reads: int) -> list[ReadFigure]:
    from django.db import connection
    from django.db.models import Sum

    from apps.ledger import selectors
    from apps.ledger.models import JournalEntry, LedgerAccount, Purpose

    account = LedgerAccount.objects.select_related("asset").get(pk=ledger_account_id)
    version = account.version
    middle = version // 2
    middle_entry = JournalEntry.objects.get(ledger_account_id=ledger_account_id, account_version=middle)
    middle_at, expected_middle = middle_entry.posted_at, middle_entry.balance_after
    code = account.asset.code

    def statement(after: int) -> Callable[[], object]:
        def read() -> object:
            page = selectors.statement_page(ledger_account_id=ledger_account_id, after_version=after, limit=PAGE)
            assert len(page) == PAGE or after + len(page) == version
            return page

        return read

    def as_of() -> object:
        value = selectors.balance_as_of(ledger_account_id=ledger_account_id, at=middle_at)
        assert value == expected_middle, (value, expected_middle)
        return value

    def stored() -> object:
        found = selectors.ledger_account_get(
            trading_account_id=trading_account_id, purpose=Purpose.CASH_AVAILABLE, asset_code=code
        )
        assert found is not None
        return found.balance

    page_sql, page_params = (
        JournalEntry.objects.select_related("transaction")
        .filter(ledger_account_id=ledger_account_id, account_version__gt=middle)
        .order_by("account_version")[:PAGE]
        .query.sql_with_params()
    )

    def page_without_orm() -> object:
        with connection.cursor() as cursor:
            cursor.execute(page_sql, page_params)
            return cursor.fetchall()

    def summed() -> object:
        return JournalEntry.objects.filter(ledger_account_id=ledger_account_id).aggregate(total=Sum("amount"))

    figures = [
        _sample(
            "balance_list (all balances of the trading account)",
            reads,
            lambda: selectors.balance_list(trading_account_id=trading_account_id),
        ),
        _sample("ledger_account_get (one stored balance)", reads, stored),
        _sample(f"statement_page first ({PAGE} entries)", reads // 5, statement(0)),
        _sample(f"statement_page middle (after_version={middle:,})", reads // 5, statement(middle)),
        _sample(f"statement_page last (after_version={version - PAGE:,})", reads // 5, statement(version - PAGE)),
        _sample("  the middle page's SQL alone (no model instances)", reads // 5, page_without_orm),
        _sample("balance_as_of (middle instant)", reads // 5, as_of),
        _sample("for contrast: SUM over all entries (not used)", max(5, reads // 50), summed),
    ]
    connection.close()
    return figures
