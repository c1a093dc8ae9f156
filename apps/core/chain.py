"""Hash chains over append-only records: the canonical form, the hashes, the chainer, the verifier.

A chained record type (journal transactions, order events) has two tables besides its own:

- a **queue** (``record_id`` primary key) that receives each record in the transaction that
  writes it, so only committed records are ever chained and none is missed;
- a **link table** (append-only): ``sequence`` (1, 2, 3, ... with no gap), the record, when it
  was linked, ``content_hash``, ``chain_hash`` and ``hash_version``.

One chainer at a time (a transaction-level advisory lock per chain) takes the queue in record-id
order and appends, for each record, the next link::

    content_hash = SHA-256( canonical form of the record, as stored )
    chain_hash   = SHA-256( "v1:" + sequence + ":" + previous chain_hash + ":" + content_hash )

(hex digests; the first link's "previous" is 64 zeros). The writers never wait on each other for
the chain: they only insert a queue row; ordering and hashing happen after commit, in one place.

The canonical form (version 1) is JSON with keys sorted by code point, no whitespace, ASCII
only (other characters escaped as ``\\uXXXX``), integers as integers, decimals as normalised
fixed-point strings (``"-30"``, ``"0.5"``), times as ISO 8601 UTC with microseconds
(``"2026-01-02T03:04:05.000006Z"``), absent values as ``null``; numbers inside free-form JSON
data as normalised fixed-point JSON numbers. Version 1 never changes: a new form is version 2,
and each link records the version it was made with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact

HASH_VERSION = 1
GENESIS = "0" * 64

# --- The canonical form ---------------------------------------------------------------


def fixed(value: Decimal | None) -> str | None:
    """A decimal as a normalised fixed-point string: no exponent, no trailing zeros, ``"0"`` for zero."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def utc(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with microseconds and a ``Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime: {value!r}")
    return f"{value.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"


def sql_utc(column: str) -> str:
    """SQL rendering ``column`` (timestamptz) exactly as :func:`utc` does."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def sql_fixed(column: str) -> str:
    """SQL rendering ``column`` (numeric) exactly as :func:`fixed` does."""
    return f"trim_scale({column})::text"


def ids_array(ids: Sequence[int]) -> str:
    """A bigint[] literal: one short string parameter instead of thousands of adapted values."""
    return "{" + ",".join(map(str, ids)) + "}"


class _NeedsSlowPath(Exception):
    pass


def _refuse(value: object) -> object:
    raise _NeedsSlowPath


def _encode(value: object) -> str:  # noqa: PLR0911 - one branch per JSON type
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        text = fixed(value)
        assert text is not None
        return text
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("canonical JSON keys must be strings")
        return "{" + ",".join(f"{_encode(key)}:{_encode(value[key])}" for key in sorted(value)) + "}"
    raise TypeError(f"not part of the canonical form: {type(value).__name__}")


def canonical_json(value: object) -> bytes:
    """The canonical form of ``value`` (dicts, lists, str, int, bool, None, Decimal; never float)."""
    try:  # the C encoder gives the same bytes whenever no Decimal is present
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_refuse)
    except _NeedsSlowPath:
        text = _encode(value)
    return text.encode("ascii")


def parse_json_data(text: str | None) -> Any:
    """Free-form JSON as stored (``jsonb::text``), with non-integer numbers kept exact."""
    if text is None:
        return None
    return json.loads(text, parse_float=Decimal)


def content_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def link_hash(*, sequence: int, previous: str, content: str, version: int = HASH_VERSION) -> str:
    if version != 1:
        raise ValueError(f"unknown hash version {version}")
    return hashlib.sha256(f"v1:{sequence}:{previous}:{content}".encode("ascii")).hexdigest()


def hex_sha256_check(*fields: str) -> Q:
    """A CHECK condition: each field is 64 lowercase hex digits. (A negated character class: an
    anchored ``{64}`` regex costs some 10 µs a row, which would double the chainer's time.)"""
    condition = Q()
    for name in fields:
        condition &= Q(Exact(Length(name), 64)) & ~Q(**{f"{name}__regex": "[^0-9a-f]"})
    return condition


# --- A chain ------------------------------------------------------------------------------

#: Given a cursor and record ids, the canonical form of each record that exists.
Contents = Callable[[Any, Sequence[int]], Mapping[int, bytes]]


@dataclass(frozen=True)
class Chain:
    name: str  # for messages: "ledger", "order events"
    lock_key: int  # pg_advisory_xact_lock key of its one chainer
    record_table: str
    record_noun: str  # "transaction", "order event"
    queue_table: str
    queue_column: str
    link_table: str
    link_column: str
    contents: Contents


def chain_extend(chain: Chain, *, limit: int = 10_000) -> int:
    """Link up to ``limit`` queued records per round until none is waiting; return how many
    were linked. One chainer at a time (advisory lock); each round is one durable transaction."""
    total = 0
    while True:
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.lock_key])
            cursor.execute(
                f"DELETE FROM {chain.queue_table} WHERE {chain.queue_column} IN "  # noqa: S608 - fixed identifiers
                f"(SELECT {chain.queue_column} FROM {chain.queue_table} ORDER BY {chain.queue_column} LIMIT %s) "
                f"RETURNING {chain.queue_column}",
                [limit],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            if ids:
                cursor.execute(
                    f"SELECT sequence, chain_hash FROM {chain.link_table} ORDER BY sequence DESC LIMIT 1"  # noqa: S608
                )
                last = cursor.fetchone()
                sequence, previous = (last[0], last[1]) if last else (0, GENESIS)
                contents = chain.contents(cursor, ids)
                sequences, content_hashes, chain_hashes = [], [], []
                for record_id in ids:
                    sequence += 1
                    digest = content_hash(contents[record_id])
                    previous = link_hash(sequence=sequence, previous=previous, content=digest)
                    sequences.append(sequence)
                    content_hashes.append(digest)
                    chain_hashes.append(previous)
                cursor.execute(
                    f"INSERT INTO {chain.link_table} "  # noqa: S608
                    f"(sequence, {chain.link_column}, assigned_at, content_hash, chain_hash, hash_version) "
                    "SELECT s, r, clock_timestamp(), c, h, %s "
                    "FROM unnest(%s::bigint[], %s::bigint[], string_to_array(%s, ','), string_to_array(%s, ',')) "
                    "AS t(s, r, c, h)",
                    [
                        HASH_VERSION,
                        ids_array(sequences),
                        ids_array(ids),
                        ",".join(content_hashes),
                        ",".join(chain_hashes),
                    ],
                )
        total += len(ids)
        if len(ids) < limit:
            return total


# --- Verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenLink:
    sequence: int
    record_id: int | None
    reason: str


@dataclass
class ChainReport:
    chain: str
    links_checked: int = 0
    broken_links: int = 0
    first_broken: BrokenLink | None = None
    head_sequence: int = 0
    head_hash: str = GENESIS
    #: records that are neither linked nor waiting in the queue (first 50 by id)
    unlinked: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_broken is None and not self.unlinked

    def problems(self, record_noun: str) -> list[str]:
        found = []
        if self.first_broken is not None:
            link = self.first_broken
            what = f" ({record_noun} {link.record_id})" if link.record_id is not None else ""
            found.append(
                f"{self.chain} chain: first broken link #{link.sequence}{what}: {link.reason}; "
                f"{self.broken_links} broken link(s) of {self.links_checked}"
            )
        found.extend(
            f"{record_noun} {record_id}: neither chained nor waiting for its link" for record_id in self.unlinked
        )
        return found


def _links(chain: Chain, chunk: int) -> Iterator[list[tuple[int, int, str, str, int]]]:
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT sequence, {chain.link_column}, content_hash, chain_hash, hash_version "  # noqa: S608
                f"FROM {chain.link_table} WHERE sequence > %s ORDER BY sequence LIMIT %s",
                [after, chunk],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def chain_verify(chain: Chain, *, chunk: int = 2000, progress: Callable[[int], object] | None = None) -> ChainReport:
    """Recompute every link in sequence order, ``chunk`` links at a time (memory-bounded).

    Each link is checked on its own: its number follows the previous link's, its record still
    exists and still hashes to ``content_hash``, and ``chain_hash`` joins the previous link's
    stored ``chain_hash`` to this ``content_hash``. The first failure is reported in detail and
    the rest counted. Records neither linked nor queued are listed (a link deleted with its
    record's queue entry, or a record inserted behind the triggers)."""
    report = ChainReport(chain=chain.name)
    previous_sequence, previous_hash = 0, GENESIS

    def broken(sequence: int, record_id: int | None, reason: str) -> None:
        report.broken_links += 1
        if report.first_broken is None:
            report.first_broken = BrokenLink(sequence, record_id, reason)

    for rows in _links(chain, chunk):
        with connection.cursor() as cursor:
            contents = chain.contents(cursor, [row[1] for row in rows])
        for sequence, record_id, stored_content, stored_chain, version in rows:
            report.links_checked += 1
            if sequence != previous_sequence + 1:
                missing = f"#{previous_sequence + 1}" + (
                    f"..#{sequence - 1}" if sequence - 1 > previous_sequence + 1 else ""
                )
                broken(previous_sequence + 1, None, f"link(s) {missing} missing (the next present is #{sequence})")
            if version != HASH_VERSION:
                broken(sequence, record_id, f"unknown hash version {version}")
            elif record_id not in contents:
                broken(sequence, record_id, f"the {chain.record_noun} is missing")
            else:
                recomputed = content_hash(contents[record_id])
                if recomputed != stored_content:
                    broken(
                        sequence,
                        record_id,
                        f"content differs from what was hashed (stored content hash {stored_content}, "
                        f"recomputed {recomputed})",
                    )
                expected = link_hash(sequence=sequence, previous=previous_hash, content=stored_content)
                if expected != stored_chain:
                    broken(
                        sequence,
                        record_id,
                        f"chain hash {stored_chain} does not follow from link #{previous_sequence} "
                        f"(expected {expected})",
                    )
            previous_sequence, previous_hash = sequence, stored_chain
        if progress is not None:
            progress(len(rows))
    report.head_sequence, report.head_hash = previous_sequence, previous_hash
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id FROM {chain.record_table} r WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {chain.link_table} l WHERE l.{chain.link_column} = r.id) AND NOT EXISTS "
            f"(SELECT 1 FROM {chain.queue_table} q WHERE q.{chain.queue_column} = r.id) ORDER BY r.id LIMIT 50"
        )
        report.unlinked = [row[0] for row in cursor.fetchall()]
    return report


def chain_backfill(chain: Chain, *, chunk: int = 2000) -> int:
    """Give links that predate hashing (``content_hash`` NULL) their hashes, in sequence order.

    Used once, by the migration that introduced the hashes (the link table's append-only
    trigger is disabled around it there). Returns how many links were hashed."""
    done = 0
    previous_sequence, previous = 0, GENESIS
    for rows in _links(chain, chunk):
        with connection.cursor() as cursor:
            contents = chain.contents(cursor, [row[1] for row in rows])
            sequences: list[int] = []
            content_hashes: list[str] = []
            chain_hashes: list[str] = []
            for sequence, record_id, stored_content, stored_chain, _version in rows:
                if stored_content is not None:
                    previous_sequence, previous = sequence, stored_chain
                    continue
                assert sequence == previous_sequence + 1, f"sequence gap before #{sequence}"
                digest = content_hash(contents[record_id])
                previous = link_hash(sequence=sequence, previous=previous, content=digest)
                previous_sequence = sequence
                sequences.append(sequence)
                content_hashes.append(digest)
                chain_hashes.append(previous)
            if sequences:
                cursor.execute(
                    f"UPDATE {chain.link_table} l SET content_hash = t.c, chain_hash = t.h, "  # noqa: S608
                    f"hash_version = {HASH_VERSION} "
                    "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(s, c, h) WHERE l.sequence = t.s",
                    [sequences, content_hashes, chain_hashes],
                )
                done += len(sequences)
    return done
