"""Deterministic file formats: the same figures always give the same bytes.

CSV: UTF-8, ``\\n`` line ends, Decimals written as they are (never floats), no timestamps of the
run. PDF: ReportLab in invariant mode (no creation date, a fixed document id), built from a title,
key-value lines, tables and an optional line chart. JSON Lines: sorted keys, compact separators.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from apps.core.templatetags.decimals import decimal_text, scale_of

PRODUCER = "Back office reports"


def text(value: Any) -> str:
    """A cell: Decimals in plain notation (never exponent), dates ISO, None empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def money(value: Decimal | None, scale: int = 2) -> str:
    """An amount rounded half-even to ``scale`` places with thousands separators (display only)."""
    if value is None:
        return ""
    return f"{value.quantize(Decimal(1).scaleb(-scale)):,.{scale}f}"


def plain(value: Decimal | None, step: Decimal | None = None) -> str:
    """A price or quantity without trailing zeros, never in exponent form, and with at least the
    decimals of ``step`` (the instrument's tick size for a price, its lot size for a quantity)."""
    return decimal_text(value, places=scale_of(step) if step is not None else 0)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([text(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | date | datetime):
        return text(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(record, sort_keys=True, separators=(",", ":"), default=_json_default).encode("utf-8") + b"\n"
        for record in records
    )


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[int, float]]  # (day index, value): for drawing only, figures stay Decimal
    color: Any


def line_chart(title: str, series: Sequence[Series], labels: Sequence[str], *, width: float = 170 * mm) -> Drawing:
    """A line chart of daily values; ``labels`` name the x positions (dates)."""
    height = 70 * mm
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, title, fontName="Helvetica-Bold", fontSize=9))
    plotted = [s for s in series if s.points]
    if not plotted:
        drawing.add(String(0, height / 2, "No history for this period.", fontName="Helvetica", fontSize=8))
        return drawing
    plot = LinePlot()
    plot.x, plot.y = 40, 20
    # reportlab's stubs type lengths as int; reportlab itself takes any number (points)
    plot.width, plot.height = width - 60, height - 45  # type: ignore[assignment]
    plot.data = [s.points for s in plotted]
    for index, s in enumerate(plotted):
        plot.lines[index].strokeColor = s.color
        plot.lines[index].strokeWidth = 1.2
    xs = [x for s in plotted for x, _ in s.points]
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = min(xs), max(*xs, min(xs) + 1)
    step = max(1, len(labels) // 6)
    plot.xValueAxis.valueSteps = list(range(0, len(labels), step))
    plot.xValueAxis.labelTextFormat = lambda x: labels[int(x)][5:] if 0 <= int(x) < len(labels) else ""
    plot.xValueAxis.labels.fontSize = 6
    plot.yValueAxis.labels.fontSize = 6
    plot.yValueAxis.labelTextFormat = "{:,.0f}".format
    ys = [y for s in plotted for _, y in s.points]
    low, high = min(ys), max(ys)
    pad: float = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = low - pad, high + pad
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = width - 120, height - 8  # type: ignore[assignment]
    legend.fontSize = 7
    legend.alignment = "right"
    legend.colorNamePairs = [(s.color, s.label) for s in plotted]
    drawing.add(legend)
    return drawing


class PdfDocument:
    """A report as a list of blocks, rendered to bytes with no varying metadata."""

    def __init__(self, title: str, *, wide: bool = False) -> None:
        self.title = title
        self.wide = wide
        self.styles = getSampleStyleSheet()
        self.story: list[Any] = [Paragraph(title, self.styles["Title"])]

    def heading(self, value: str) -> None:
        self.story += [Spacer(1, 3 * mm), Paragraph(value, self.styles["Heading3"])]

    def line(self, value: str) -> None:
        self.story.append(Paragraph(value, self.styles["BodyText"]))

    def pairs(self, items: Sequence[tuple[str, str]]) -> None:
        table = Table([[k, v] for k, v in items], hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                    ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 9),
                    ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ]
            )
        )
        self.story.append(table)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> None:
        if not rows:
            self.line("None.")
            return
        table = Table([list(header), *[list(r) for r in rows]], hAlign="LEFT", repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
                    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                    ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ]
            )
        )
        self.story.append(table)

    def drawing(self, drawing: Drawing) -> None:
        self.story += [Spacer(1, 3 * mm), drawing]

    def render(self) -> bytes:
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=landscape(A4) if self.wide else A4,
            title=self.title,
            author=PRODUCER,
            creator=PRODUCER,
            producer=PRODUCER,
            invariant=1,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=15 * mm,
        )
        doc.build(self.story)
        return buffer.getvalue()
