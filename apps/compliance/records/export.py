"""Self-verifying exports of the hash chains for write-once storage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone

from apps.core.chain import GENESIS, HASH_VERSION, Chain, canonical_json, chain_extend, sql_utc, utc
from apps.core.errors import BusinessRuleViolation, Conflict
from apps.core.progress import OnProgress

if TYPE_CHECKING:
    pass

# --- Export ---------------------------------------------------------------------------------

EXPORT_FORMAT = "backoffice.records-export"
EXPORT_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SHA256 = "manifest.sha256"
CHAIN_RULE = (
    'content_hash = hex(SHA-256(content as ASCII bytes)); chain_hash = hex(SHA-256("v1:" + sequence + ":" '
    '+ previous_chain_hash + ":" + content_hash)); the first link\'s previous_chain_hash is 64 zeros'
)


@dataclass(frozen=True)
class ExportChain:
    key: str  # on the command line and in the manifest
    file: str
    chain: Callable[[], Chain]
    extend: Callable[[], int]


def _ledger_chain() -> Chain:
    from apps.ledger.chain import LEDGER_CHAIN

    return LEDGER_CHAIN


def _event_chain() -> Chain:
    from apps.orders.chain import ORDER_EVENT_CHAIN

    return ORDER_EVENT_CHAIN


EXPORT_CHAINS: dict[str, ExportChain] = {
    "ledger": ExportChain("ledger", "ledger.jsonl", _ledger_chain, lambda: chain_extend(_ledger_chain())),
    "order-events": ExportChain(
        "order-events", "order_events.jsonl", _event_chain, lambda: chain_extend(_event_chain())
    ),
}


@dataclass(frozen=True)
class ExportSection:
    """Records that are not a hash chain but belong in an export (report runs, say): a higher app
    registers one with ``export_section_register`` in its ``AppConfig.ready()``. ``records(from_date,
    to_date)`` yields JSON-able dicts in a stable order; the file's SHA-256 goes into the manifest."""

    key: str
    file: str
    description: str
    records: Callable[[date | None, date | None], Iterator[dict[str, Any]]]


EXPORT_SECTIONS: dict[str, ExportSection] = {}


def export_section_register(section: ExportSection) -> None:
    if section.key in EXPORT_CHAINS or (section.key in EXPORT_SECTIONS and EXPORT_SECTIONS[section.key] != section):
        raise ValueError(f"export section {section.key!r} registered twice")
    EXPORT_SECTIONS[section.key] = section


@dataclass(frozen=True)
class ExportedChain:
    chain: str
    file: str
    records: int
    first_sequence: int | None
    last_sequence: int | None
    first_previous_chain_hash: str
    last_chain_hash: str


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    manifest_sha256: str
    chains: list[ExportedChain]


def _scalar(sql: str, params: Sequence[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        row = cursor.fetchone()
    return row[0] if row else None


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def export_range(
    chain: Chain,
    *,
    from_sequence: int | None = None,
    to_sequence: int | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
) -> tuple[int, int]:
    """The contiguous, inclusive range of link numbers to export (``last < first`` when empty).

    Dates select by the time each record was linked (``assigned_at``, seconds after its commit),
    which grows with the sequence: a date range is therefore always a contiguous run of links,
    ``from_date`` at 00:00 UTC up to the end of ``to_date``."""
    table = chain.link_table
    head = _scalar(f"SELECT coalesce(max(sequence), 0) FROM {table}", []) or 0  # noqa: S608 - fixed identifier
    first, last = max(from_sequence or 1, 1), min(to_sequence if to_sequence is not None else head, head)
    if from_date is not None:
        at = _scalar(f"SELECT min(sequence) FROM {table} WHERE assigned_at >= %s", [_day_start(from_date)])  # noqa: S608
        first = max(first, at if at is not None else head + 1)
    if to_date is not None:
        end = _day_start(to_date) + timedelta(days=1)
        at = _scalar(f"SELECT max(sequence) FROM {table} WHERE assigned_at < %s", [end])  # noqa: S608
        last = min(last, at if at is not None else 0)
    return first, last


def _export_lines(chain: Chain, first: int, last: int, previous: str, chunk: int) -> Iterator[tuple[bytes, str]]:
    """Each exported line and the chain hash it ends with, in sequence order."""
    after = first - 1
    while after < last:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT sequence, {chain.link_column}, {sql_utc('assigned_at')}, content_hash, chain_hash, "  # noqa: S608
                f"hash_version FROM {chain.link_table} WHERE sequence > %s AND sequence <= %s "
                "ORDER BY sequence LIMIT %s",
                [after, last, chunk],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            contents = chain.contents(cursor, [row[1] for row in rows])
        for sequence, record_id, assigned_at, stored_content, stored_chain, version in rows:
            content = contents.get(record_id)
            line = {
                "chain": chain.name,
                "sequence": sequence,
                "record_id": record_id,
                "assigned_at": assigned_at,
                "hash_version": version,
                "previous_chain_hash": previous,
                "content_hash": stored_content,
                "chain_hash": stored_chain,
                # the canonical content exactly as hashed (ASCII); null if the record is gone
                "content": content.decode("ascii") if content is not None else None,
            }
            yield canonical_json(line) + b"\n", stored_chain
            previous = stored_chain
        after = rows[-1][0]


def records_export(
    *,
    directory: Path,
    chains: Sequence[str] = ("ledger", "order-events"),
    from_sequence: int | None = None,
    to_sequence: int | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
    link_pending: bool = True,
    chunk: int = 2000,
    on_progress: OnProgress | None = None,
) -> ExportResult:
    """Write an export of ``chains`` into ``directory`` (created; files are never overwritten).

    Each chain is first extended with what has committed (``link_pending``), so that the export
    reaches the present. The range applies to each chain's own numbering. ``on_progress(chain,
    done, total)`` is told of each ``chunk`` of records written (``apps.core.progress``)."""
    tick = on_progress or (lambda part, done, total: None)
    directory.mkdir(parents=True, exist_ok=True)
    section_files = [section.file for section in EXPORT_SECTIONS.values()]
    for name in [MANIFEST, MANIFEST_SHA256, *(EXPORT_CHAINS[c].file for c in chains), *section_files]:
        if (directory / name).exists():
            raise Conflict(f"{directory / name} already exists: an export is never overwritten.", code="export_exists")
    exported: list[ExportedChain] = []
    manifest_chains: list[dict[str, Any]] = []
    for key in chains:
        spec = EXPORT_CHAINS[key]
        chain = spec.chain()
        if link_pending:
            spec.extend()
        first, last = export_range(
            chain, from_sequence=from_sequence, to_sequence=to_sequence, from_date=from_date, to_date=to_date
        )
        previous = GENESIS
        if first > 1:
            previous = _scalar(f"SELECT chain_hash FROM {chain.link_table} WHERE sequence = %s", [first - 1])  # noqa: S608
            if previous is None:
                raise BusinessRuleViolation(
                    f"{chain.name} link #{first - 1} is missing: run the verification first.", code="chain_broken"
                )
        digest, records, last_hash = hashlib.sha256(), 0, previous
        expected = max(0, last - first + 1)
        tick(key, 0, expected)
        with (directory / spec.file).open("xb") as out:
            for line, chain_hash in _export_lines(chain, first, last, previous, chunk):
                out.write(line)
                digest.update(line)
                records += 1
                last_hash = chain_hash
                if records % chunk == 0:
                    tick(key, chunk, expected)
        tick(key, records % chunk, expected)
        result = ExportedChain(
            chain=key,
            file=spec.file,
            records=records,
            first_sequence=first if records else None,
            last_sequence=first + records - 1 if records else None,
            first_previous_chain_hash=previous,
            last_chain_hash=last_hash,
        )
        exported.append(result)
        manifest_chains.append(
            {
                "chain": key,
                "name": chain.name,
                "file": spec.file,
                "file_sha256": digest.hexdigest(),
                "records": records,
                "first_sequence": result.first_sequence,
                "last_sequence": result.last_sequence,
                "first_previous_chain_hash": previous,
                "last_chain_hash": last_hash,
            }
        )
    manifest_sections: list[dict[str, Any]] = []
    for section in EXPORT_SECTIONS.values():
        digest, records = hashlib.sha256(), 0
        with (directory / section.file).open("xb") as out:
            for record in section.records(from_date, to_date):
                line = canonical_json(record) + b"\n"
                out.write(line)
                digest.update(line)
                records += 1
        manifest_sections.append(
            {
                "section": section.key,
                "description": section.description,
                "file": section.file,
                "file_sha256": digest.hexdigest(),
                "records": records,
            }
        )
    manifest = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "hash_version": HASH_VERSION,
        "chain_rule": CHAIN_RULE,
        "exported_at": utc(timezone.now()),
        "range": {
            "from_sequence": from_sequence,
            "to_sequence": to_sequence,
            "from_date": from_date.isoformat() if from_date else None,
            "to_date": to_date.isoformat() if to_date else None,
            "dates_by": "assigned_at (the time each record was linked into its chain)",
        },
        "chains": manifest_chains,
        "sections": manifest_sections,
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("ascii")
    with (directory / MANIFEST).open("xb") as out:
        out.write(manifest_bytes)
    manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
    with (directory / MANIFEST_SHA256).open("x", encoding="ascii") as text:
        text.write(f"{manifest_digest}  {MANIFEST}\n")
    return ExportResult(directory=directory, manifest_sha256=manifest_digest, chains=exported)
