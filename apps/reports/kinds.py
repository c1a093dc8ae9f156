"""The report kinds: each is a generator registered under a stable key.

A generator is a pure function of the period (and, for per-account kinds, the account): it reads
the ledger and the records as of ``period.end`` and answers the files' bytes. It never reads the
clock, the run or anything written after ``period.end``, so a re-run for the same period yields
byte-identical files (the run stores each file's SHA-256; a test proves the equality).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime


class Scope:
    FIRM = "firm"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Period:
    """One business date: from the previous trading day's session close (exclusive of nothing
    before it) up to this date's close, ``[start, end)``, UTC."""

    business_date: date
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ReportContent:
    """One file a generator produced."""

    name: str  # e.g. "statement-ACC-000001-2026-12-04.pdf" (no directories)
    content_type: str  # "application/pdf", "text/csv", "application/x-ndjson"
    data: bytes


#: (period, trading account id or None) -> files, the first one being the run's main file
Generator = Callable[[Period, "int | None"], list[ReportContent]]


@dataclass(frozen=True)
class ReportKind:
    key: str
    title: str
    scope: str  # Scope.FIRM or Scope.ACCOUNT
    generate: Generator
    description: str = ""


KINDS: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> ReportKind:
    if kind.key in KINDS and KINDS[kind.key] is not kind:
        raise ValueError(f"report kind {kind.key!r} registered twice")
    KINDS[kind.key] = kind
    return kind


def kind_get(key: str) -> ReportKind:
    try:
        return KINDS[key]
    except KeyError:
        from apps.core.errors import ValidationError

        raise ValidationError(f"Unknown report kind {key!r}.", code="unknown_report_kind", field="kind") from None
