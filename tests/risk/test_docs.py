"""docs/risk.md documents every reason code the pre-trade checks produce, in the order they run,
and what an operator does about each; and every reason code of the mark-to-market job."""

from __future__ import annotations

import re
from pathlib import Path

from apps.risk.checks import REASON_CODES
from apps.risk.exposure import BREACH_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "risk.md"


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def first_codes(text: str) -> list[str]:
    """The first backticked code of each table row."""
    return [m.group(1) for m in re.finditer(r"^\| [^|]*\| `([a-z_]+)`", text, re.M)]


def test_the_checks_table_lists_every_reason_code_in_order():
    assert first_codes(section("The checks, in order")) == list(REASON_CODES)


def test_every_reason_code_has_an_operator_note():
    notes = section("Reason codes for operators")
    documented = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", notes, re.M))
    codes = {code for pair in documented for code in pair if code}
    assert codes == set(REASON_CODES)


def test_the_mark_to_market_breaches_are_documented():
    rows = re.findall(r"^   \| `([a-z_]+)` \|", section("Intraday mark-to-market"), re.M)
    assert sorted(rows) == sorted(BREACH_CODES)
