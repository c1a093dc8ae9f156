"""End-of-day positions and mark-to-market: every account's positions at the business date's
close, valued at the closing reference prices, with per-account totals and the firm-wide exposure
per instrument. Figures from ``apps.reports.valuation`` (ledger balances, the fills' average cost,
the price history)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from apps.reports import render
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register
from apps.reports.valuation import accounts_with_activity_before, valuations_as_of

ZERO = Decimal(0)


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    valuations = valuations_as_of(at=period.end, account_ids=accounts_with_activity_before(period.end))
    stem = f"eod_positions-{period.business_date.isoformat()}"
    position_rows: list[list[Any]] = []
    symbol_prices: dict[str, Decimal | None] = {}
    steps: dict[str, tuple[Decimal, Decimal]] = {}
    firm: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])  # symbol -> qty, long MV, short MV
    for valuation in sorted(valuations.values(), key=lambda v: v.number):
        for p in valuation.positions:
            steps[p.symbol] = (p.tick_size, p.lot_size)
            position_rows.append(
                [
                    valuation.number,
                    p.symbol,
                    p.currency,
                    p.quantity,
                    p.price,
                    p.market_value,
                    p.cost_basis,
                    p.unrealized_pnl,
                    p.realized_pnl,
                ]
            )
            slot = firm[p.symbol]
            symbol_prices[p.symbol] = p.price
            slot[0] += p.quantity
            if p.market_value is not None:
                slot[1 if p.market_value >= 0 else 2] += p.market_value
    account_rows: list[list[Any]] = [
        [
            v.number,
            v.base_currency,
            v.base_cash,
            v.market_value,
            v.equity,
            v.gross_exposure,
            v.unrealized_pnl,
            v.realized_pnl,
        ]
        for v in sorted(valuations.values(), key=lambda v: v.number)
    ]
    totals = [sum((row[i] for row in account_rows), ZERO) for i in (2, 3, 4, 5, 6)]
    positions_csv = render.csv_bytes(
        [
            "account",
            "symbol",
            "currency",
            "quantity",
            "closing_price",
            "market_value",
            "cost_basis",
            "unrealized_pnl",
            "realized_pnl",
        ],
        position_rows,
    )
    accounts_csv = render.csv_bytes(
        ["account", "currency", "cash", "market_value", "equity", "gross_exposure", "unrealized_pnl", "realized_pnl"],
        [*account_rows, ["FIRM", "", *totals, sum((r[7] for r in account_rows), ZERO)]],
    )
    doc = render.PdfDocument(f"End-of-day positions and mark-to-market {period.business_date.isoformat()}", wide=True)
    doc.pairs(
        [
            ("Valued at (UTC)", period.end.isoformat()),
            ("Accounts", str(len(account_rows))),
            ("Firm cash", render.money(totals[0])),
            ("Firm market value", render.money(totals[1])),
            ("Firm equity", render.money(totals[2])),
            ("Firm gross exposure", render.money(totals[3])),
            ("Firm unrealized P&L", render.money(totals[4])),
        ]
    )
    doc.heading("Firm-wide exposure per instrument")
    doc.table(
        ["Symbol", "Net quantity", "Closing price", "Long value", "Short value", "Gross exposure"],
        [
            [
                symbol,
                render.plain(q, steps[symbol][1]),
                render.plain(symbol_prices.get(symbol), steps[symbol][0]),
                render.money(long),
                render.money(short),
                render.money(long - short),
            ]
            for symbol, (q, long, short) in sorted(firm.items())
        ],
    )
    doc.heading("Accounts")
    doc.table(
        ["Account", "Cash", "Market value", "Equity", "Gross exposure", "Unrealized P&L"],
        [[r[0], *(render.money(x) for x in r[2:7])] for r in account_rows],
    )
    doc.heading("Positions")
    doc.table(
        ["Account", "Symbol", "Quantity", "Closing price", "Market value", "Cost basis", "Unrealized P&L"],
        [
            [
                r[0],
                r[1],
                render.plain(r[3], steps[r[1]][1]),
                render.plain(r[4], steps[r[1]][0]),
                render.money(r[5]),
                render.money(r[6]),
                render.money(r[7]),
            ]
            for r in position_rows
        ],
        numeric_from=2,
    )
    return [
        ReportContent(name=f"{stem}.pdf", content_type="application/pdf", data=doc.render()),
        ReportContent(name=f"{stem}-positions.csv", content_type="text/csv", data=positions_csv),
        ReportContent(name=f"{stem}-accounts.csv", content_type="text/csv", data=accounts_csv),
    ]


KIND = register(
    ReportKind(
        key="eod_positions",
        title="End-of-day positions and mark-to-market",
        scope=Scope.FIRM,
        generate=generate,
        description="Per account and firm-wide: positions at the close, valued at the closing reference prices.",
    )
)
