"""The daily client statement, per account: opening and closing cash and positions, every ledger
entry of the period, fees, realized and unrealized P&L, and a chart of the account's equity and
cash at the last 30 business-date closes; as a PDF and a CSV.

Figures (docs/reports.md): cash and quantities are ledger balances (``valuation``); the entries
are the account's journal entries posted in ``[start, end)``; fees are the commissions of the
fills booked in the period plus fee transactions; realized P&L of the day is the cumulative
realized P&L at the close less at the opening (average cost); unrealized P&L is the market value
at the closing reference price less the cost basis.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection
from reportlab.lib import colors

from apps.reports import render
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register
from apps.reports.periods import period_for, previous_business_date
from apps.reports.valuation import Valuation, valuation_as_of

CHART_DAYS = 30
ZERO = Decimal(0)

_ENTRIES = """
SELECT e.posted_at, t.id, t.kind, t.reference, t.memo, a.code, la.purpose, e.amount, e.balance_after
  FROM ledger_journalentry e
  JOIN ledger_journaltransaction t ON t.id = e.transaction_id
  JOIN ledger_ledgeraccount la ON la.id = e.ledger_account_id
  JOIN ledger_asset a ON a.id = e.asset_id
 WHERE la.trading_account_id = %s AND e.posted_at >= %s AND e.posted_at < %s
 ORDER BY e.posted_at, e.id
"""

_FEES = """
SELECT coalesce(sum(f.fee), 0) FROM orders_fill f JOIN orders_order o ON o.id = f.order_id
 WHERE o.account_id = %s AND f.booked_at >= %s AND f.booked_at < %s
"""

_FEE_TRANSACTIONS = """
SELECT coalesce(sum(-e.amount), 0) FROM ledger_journalentry e
  JOIN ledger_journaltransaction t ON t.id = e.transaction_id
  JOIN ledger_ledgeraccount la ON la.id = e.ledger_account_id
 WHERE la.trading_account_id = %s AND t.kind = 'fee' AND la.purpose = 'cash_available'
   AND e.posted_at >= %s AND e.posted_at < %s
"""


def _scalar(sql: str, params: list[Any]) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return Decimal(cursor.fetchone()[0])


def _entries(account_id: int, period: Period) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_ENTRIES, [account_id, period.start, period.end])
        return cursor.fetchall()


def _history(account_id: int, period: Period) -> list[tuple[str, Decimal, Decimal]]:
    """(date, cash, equity) at each of the last ``CHART_DAYS`` business-date closes, oldest first."""
    days = [period.business_date]
    while len(days) < CHART_DAYS:
        days.append(previous_business_date(days[-1]))
    points = []
    for day in reversed(days):
        valuation = valuation_as_of(at=period_for(day).end, account_id=account_id)
        points.append((day.isoformat(), valuation.base_cash, valuation.equity))
    return points


def _realized_by_symbol(valuation: Valuation) -> dict[str, Decimal]:
    return {p.symbol: p.realized_pnl for p in valuation.positions}


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    assert account_id is not None
    opening = valuation_as_of(at=period.start, account_id=account_id)
    closing = valuation_as_of(at=period.end, account_id=account_id)
    entries = _entries(account_id, period)
    fees = _scalar(_FEES, [account_id, period.start, period.end]) + _scalar(
        _FEE_TRANSACTIONS, [account_id, period.start, period.end]
    )
    opened = _realized_by_symbol(opening)
    realized_today = sum((p.realized_pnl - opened.get(p.symbol, ZERO) for p in closing.positions), ZERO)
    unrealized = closing.unrealized_pnl
    history = _history(account_id, period)
    currency = closing.base_currency
    stem = f"statement-{closing.number}-{period.business_date.isoformat()}"

    # --- CSV: one rectangular table, a section column says what each row is -------------------
    header = [
        "section",
        "time",
        "transaction",
        "kind",
        "reference",
        "description",
        "asset",
        "account",
        "amount",
        "balance",
    ]
    rows: list[list[object]] = []
    currencies = sorted(set(opening.cash) | set(closing.cash))
    rows += [
        ["opening_cash", period.start, "", "", "", "", c, "total", "", opening.cash.get(c, ZERO)] for c in currencies
    ]
    rows += [
        ["entry", at, txn, kind, ref, memo, asset, purpose, amount, after]
        for at, txn, kind, ref, memo, asset, purpose, amount, after in entries
    ]
    rows += [
        ["closing_cash", period.end, "", "", "", "", c, "total", "", closing.cash.get(c, ZERO)] for c in currencies
    ]
    opening_qty = {p.symbol: p.quantity for p in opening.positions}
    for p in closing.positions:
        rows.append(
            [
                "opening_position",
                period.start,
                "",
                "",
                "",
                "",
                p.symbol,
                "quantity",
                "",
                opening_qty.get(p.symbol, ZERO),
            ]
        )
        rows.append(
            [
                "closing_position",
                period.end,
                "",
                "",
                "",
                f"price {render.text(p.price)}",
                p.symbol,
                "quantity",
                "",
                p.quantity,
            ]
        )
        rows.append(["market_value", period.end, "", "", "", "", p.symbol, currency, "", p.market_value])
        rows.append(["cost_basis", period.end, "", "", "", "", p.symbol, currency, "", p.cost_basis])
        rows.append(["unrealized_pnl", period.end, "", "", "", "", p.symbol, currency, "", p.unrealized_pnl])
        rows.append(
            [
                "realized_pnl_today",
                period.end,
                "",
                "",
                "",
                "",
                p.symbol,
                currency,
                "",
                p.realized_pnl - opened.get(p.symbol, ZERO),
            ]
        )
    rows += [
        ["summary", period.end, "", "", "", "fees", currency, "", "", fees],
        ["summary", period.end, "", "", "", "realized_pnl_today", currency, "", "", realized_today],
        ["summary", period.end, "", "", "", "unrealized_pnl", currency, "", "", unrealized],
        ["summary", period.end, "", "", "", "equity", currency, "", "", closing.equity],
    ]
    csv_data = render.csv_bytes(header, rows)

    # --- PDF ----------------------------------------------------------------------------------
    doc = render.PdfDocument(f"Daily statement {period.business_date.isoformat()}")
    doc.pairs(
        [
            ("Account", f"{closing.number} {closing.name}"),
            ("Business date", period.business_date.isoformat()),
            ("Period (UTC)", f"{period.start.isoformat()} to {period.end.isoformat()}"),
            ("Base currency", currency),
        ]
    )
    doc.heading("Cash")
    doc.table(
        ["Currency", "Opening balance", "Closing balance"],
        [[c, render.money(opening.cash.get(c, ZERO)), render.money(closing.cash.get(c, ZERO))] for c in currencies],
    )
    doc.pairs(
        [
            ("Opening cash balance", f"{render.money(opening.base_cash)} {currency}"),
            ("Closing cash balance", f"{render.money(closing.base_cash)} {currency}"),
            ("Fees", f"{render.money(fees)} {currency}"),
            ("Realized P&L (this period)", f"{render.money(realized_today)} {currency}"),
            ("Unrealized P&L (at close)", f"{render.money(unrealized)} {currency}"),
            ("Equity at close", f"{render.money(closing.equity)} {currency}"),
        ]
    )
    doc.heading("Positions")
    doc.table(
        ["Symbol", "Opening qty", "Closing qty", "Closing price", "Market value", "Cost basis", "Unrealized P&L"],
        [
            [
                p.symbol,
                render.plain(opening_qty.get(p.symbol, ZERO), p.lot_size),
                render.plain(p.quantity, p.lot_size),
                render.plain(p.price, p.tick_size),
                render.money(p.market_value),
                render.money(p.cost_basis),
                render.money(p.unrealized_pnl),
            ]
            for p in closing.positions
        ],
    )
    doc.heading("Transactions")
    doc.table(
        ["Time (UTC)", "Txn", "Kind", "Asset", "Account", "Amount", "Balance"],
        [
            [
                at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                str(txn),
                kind,
                asset,
                purpose,
                render.plain(amount),
                render.plain(after),
            ]
            for at, txn, kind, _ref, _memo, asset, purpose, amount, after in entries
        ],
        numeric_from=5,
    )
    labels = [day for day, _, _ in history]
    doc.drawing(
        render.line_chart(
            f"Equity and cash at the last {len(history)} closes ({currency})",
            [
                render.Series(
                    "Equity", [(i, float(e)) for i, (_, _, e) in enumerate(history)], colors.HexColor("#1f77b4")
                ),
                render.Series(
                    "Cash", [(i, float(c)) for i, (_, c, _) in enumerate(history)], colors.HexColor("#ff7f0e")
                ),
            ],
            labels,
        )
    )
    return [
        ReportContent(name=f"{stem}.pdf", content_type="application/pdf", data=doc.render()),
        ReportContent(name=f"{stem}.csv", content_type="text/csv", data=csv_data),
    ]


KIND = register(
    ReportKind(
        key="statement",
        title="Daily client statement",
        scope=Scope.ACCOUNT,
        generate=generate,
        description="Per account: cash and positions at opening and close, every entry, fees, P&L, a 30-day chart.",
    )
)
