"""Offline verification of an export: from the files alone, no database."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.compliance.records.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, MANIFEST, MANIFEST_SHA256
from apps.core.chain import GENESIS, HASH_VERSION, link_hash
from apps.core.progress import OnProgress

if TYPE_CHECKING:
    pass

# --- Offline verification of an export (no database) ---------------------------------------


@dataclass(frozen=True)
class ExportBreak:
    chain: str
    line: int | None
    sequence: int | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.sequence is not None:
            where.append(f"#{self.sequence}")
        if self.line is not None:
            where.append(f"line {self.line}")
        return f"{self.chain}: first broken link {' '.join(where) or '(file)'}: {self.reason}"


@dataclass
class ExportChainCheck:
    chain: str
    file: str
    records: int = 0
    broken_links: int = 0
    first_broken: ExportBreak | None = None
    first_sequence: int | None = None
    last_sequence: int | None = None
    last_chain_hash: str = GENESIS

    def broken(self, line: int | None, sequence: int | None, reason: str) -> None:
        self.broken_links += 1
        if self.first_broken is None:
            self.first_broken = ExportBreak(self.chain, line, sequence, reason)


@dataclass
class ExportVerification:
    manifest_sha256: str | None = None
    problems: list[str] = field(default_factory=list)  # manifest and file-level findings
    chains: list[ExportChainCheck] = field(default_factory=list)

    @property
    def first_broken(self) -> ExportBreak | None:
        return next((c.first_broken for c in self.chains if c.first_broken is not None), None)

    @property
    def ok(self) -> bool:
        return not self.problems and self.first_broken is None


#: lines read between two progress reports
PROGRESS_EVERY = 2000

_LINE_KEYS = {"sequence", "record_id", "previous_chain_hash", "content_hash", "chain_hash", "hash_version", "content"}


def _check_content(check: ExportChainCheck, number: int, sequence: int, line: dict[str, Any]) -> None:
    """The content hashes to ``content_hash`` and is the record the line names."""
    content: str = line["content"]
    try:
        recomputed = hashlib.sha256(content.encode("ascii")).hexdigest()
    except UnicodeEncodeError:
        recomputed = "(content is not ASCII: not the canonical form)"
    if recomputed != line["content_hash"]:
        check.broken(
            number,
            sequence,
            f"content differs from what was hashed (content hash {line['content_hash']}, recomputed {recomputed})",
        )
        return
    try:
        record = json.loads(content)
        same = isinstance(record, dict) and record.get("id") == line["record_id"]
    except ValueError:
        same = False
    if not same:
        check.broken(number, sequence, f"record id {line['record_id']} does not match the content")


def _check_line(check: ExportChainCheck, number: int, raw: bytes, expected: int, previous: str) -> tuple[int, str]:
    """Check one exported line; return the sequence and chain hash the next line follows."""
    try:
        line = json.loads(raw, parse_float=Decimal)
        if not isinstance(line, dict) or not line.keys() >= _LINE_KEYS:
            raise ValueError("missing fields")
        sequence, chain_hash = int(line["sequence"]), str(line["chain_hash"])
    except (ValueError, TypeError) as error:
        check.broken(number, expected, f"the line is not a valid export record ({error})")
        return expected, previous
    if sequence != expected:
        check.broken(number, expected, f"link #{expected} expected, found #{sequence}")
    if line["previous_chain_hash"] != previous:
        check.broken(
            number,
            sequence,
            f"previous chain hash {line['previous_chain_hash']} is not link #{expected - 1}'s {previous}",
        )
    if line["hash_version"] != HASH_VERSION:
        check.broken(number, sequence, f"unknown hash version {line['hash_version']}")
    elif not isinstance(line["content"], str):
        check.broken(number, sequence, "the record's content is missing")
    else:
        _check_content(check, number, sequence, line)
        expected_hash = link_hash(sequence=sequence, previous=previous, content=str(line["content_hash"]))
        if expected_hash != chain_hash:
            check.broken(
                number,
                sequence,
                f"chain hash {chain_hash} does not follow from link #{expected - 1} (expected {expected_hash})",
            )
    return sequence + 1, chain_hash


def _verify_chain(
    directory: Path, entry: dict[str, Any], report: ExportVerification, tick: OnProgress
) -> ExportChainCheck:
    check = ExportChainCheck(chain=str(entry.get("chain")), file=str(entry.get("file")))
    listed = entry.get("records")
    total = listed if isinstance(listed, int) and listed >= 0 else None
    path = directory / check.file
    if not path.is_file():
        check.broken(None, entry.get("first_sequence"), f"the file {check.file} is missing")
        return check
    digest = hashlib.sha256()
    previous = str(entry.get("first_previous_chain_hash"))
    first = entry.get("first_sequence")
    expected = int(first) if first is not None else None
    tick(check.chain, 0, total)
    number = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if number % PROGRESS_EVERY == 0:
                tick(check.chain, PROGRESS_EVERY, total)
            digest.update(raw)
            if expected is None:  # the manifest says the range is empty
                check.broken(number, None, "a record where the manifest lists none")
                continue
            if check.first_sequence is None:
                check.first_sequence = expected
            expected, previous = _check_line(check, number, raw, expected, previous)
            check.records += 1
            check.last_sequence = expected - 1
    tick(check.chain, number % PROGRESS_EVERY, total)
    check.last_chain_hash = previous
    if digest.hexdigest() != entry.get("file_sha256"):
        report.problems.append(
            f"{check.chain}: {check.file}'s SHA-256 {digest.hexdigest()} differs from the manifest's "
            f"{entry.get('file_sha256')}"
        )
    if check.records != entry.get("records"):
        check.broken(None, None, f"{check.records} record(s) in the file, the manifest says {entry.get('records')}")
    if previous != entry.get("last_chain_hash"):
        check.broken(
            None,
            check.last_sequence,
            f"the last chain hash {previous} is not the manifest's {entry.get('last_chain_hash')}",
        )
    return check


def export_verify(path: Path, *, on_progress: OnProgress | None = None) -> ExportVerification:
    """Verify an export (its directory or its ``manifest.json``) from the files alone: the
    manifest's own SHA-256, each file's SHA-256, and every link of every chain. Never touches
    the database. ``on_progress(chain, done, total)`` is told of the lines read
    (``apps.core.progress``)."""
    tick = on_progress or (lambda part, done, total: None)
    directory = path.parent if path.is_file() else path
    report = ExportVerification()
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(f"{manifest_path} is missing")
        return report
    manifest_bytes = manifest_path.read_bytes()
    report.manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    sha_path = directory / MANIFEST_SHA256
    recorded = sha_path.read_text(encoding="ascii").split()[0] if sha_path.is_file() else None
    if recorded is None:
        report.problems.append(f"{sha_path} is missing: the manifest cannot be checked")
    elif recorded != report.manifest_sha256:
        report.problems.append(
            f"{MANIFEST}'s SHA-256 {report.manifest_sha256} differs from the recorded {recorded}: "
            "the manifest was altered"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as error:
        report.problems.append(f"{MANIFEST} is not valid JSON: {error}")
        return report
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("format_version") != EXPORT_FORMAT_VERSION:
        report.problems.append(f"unknown export format {manifest.get('format')!r} {manifest.get('format_version')!r}")
        return report
    for entry in manifest.get("chains", []):
        report.chains.append(_verify_chain(directory, entry, report, tick))
    for entry in manifest.get("sections", []):  # records that are not a chain: their file's SHA-256
        path = directory / str(entry.get("file"))
        if not path.is_file():
            report.problems.append(f"{path} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("file_sha256"):
            report.problems.append(f"{entry.get('file')}'s SHA-256 differs from the manifest: the file was altered")
    return report
