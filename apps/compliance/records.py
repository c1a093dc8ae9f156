"""Records management: retention (what is past it), self-verifying exports of the hash chains
for write-once storage, and GDPR pseudonymisation of a former client.

- **Retention** (``retention_report``): per record class of ``settings.RECORDS_RETENTION``, how
  many rows are past their retention period as of a date, the oldest, and when it became
  eligible. Read-only: nothing is ever deleted here (ledger, order-event and audit rows are
  append-only in the database anyway).
- **Export** (``records_export``): a contiguous range of links of the ledger chain and of the
  order-event chain, one JSON Lines file per chain, each line the record's canonical content
  exactly as hashed (``apps.core.chain``) with its sequence, content hash, previous chain hash
  and chain hash; plus ``manifest.json`` (ranges, first previous hash, last chain hash, each
  file's SHA-256) and ``manifest.sha256`` (the manifest's own SHA-256, ``sha256sum -c`` format).
- **Offline verification** (``export_verify``): recomputes every content hash and link from the
  export alone, without the database, and reports the first broken link.
- **Pseudonymisation** (``client_pseudonymise``): replaces a former client's personal data on
  the user row with a stable pseudonym, deactivates the user, and records it in the audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from apps.core.chain import GENESIS, HASH_VERSION, Chain, canonical_json, chain_extend, link_hash, sql_utc, utc
from apps.core.errors import BusinessRuleViolation, Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from apps.users.models import User

# --- Retention ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordClass:
    key: str  # "app_label.model", the key of settings.RECORDS_RETENTION
    label: str
    timestamp_field: str  # the time retention runs from


#: What each record class's retention runs from. An order's clock runs from its last change
#: (``updated_at``: the memorandum is complete when the order is), every other record's from
#: when it was made.
RECORD_CLASSES: tuple[RecordClass, ...] = (
    RecordClass("ledger.journaltransaction", "Journal transactions", "posted_at"),
    RecordClass("ledger.journalentry", "Journal entries", "posted_at"),
    RecordClass("orders.fill", "Fills", "executed_at"),
    RecordClass("orders.order", "Orders", "updated_at"),
    RecordClass("orders.orderevent", "Order events", "at"),
    RecordClass("compliance.securityevent", "Security events", "at"),
    RecordClass("compliance.compliancealert", "Compliance alerts", "raised_at"),
    RecordClass("auditlog.logentry", "Audit log entries", "timestamp"),
)


def years_later(moment: datetime, years: int) -> datetime:
    """``moment`` plus whole calendar years (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class RetentionLine:
    record_class: str
    label: str
    years: int
    basis: str
    timestamp_field: str
    cutoff: datetime  # rows timestamped before this are past retention
    past_retention: int
    oldest: datetime | None  # the oldest row past retention
    eligible_since: date | None  # when that oldest row became eligible

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_class": self.record_class,
            "label": self.label,
            "retention_years": self.years,
            "basis": self.basis,
            "timestamp": self.timestamp_field,
            "cutoff": utc(self.cutoff),
            "past_retention": self.past_retention,
            "oldest": utc(self.oldest),
            "eligible_since": self.eligible_since.isoformat() if self.eligible_since else None,
        }


def retention_report(*, as_of: date | None = None) -> list[RetentionLine]:
    """Per record class: the rows past retention on ``as_of`` (default: today, UTC), counted by
    their own timestamp, the oldest of them and the day it became eligible. Never deletes."""
    day = as_of or timezone.now().astimezone(UTC).date()
    start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
    lines = []
    for record_class in RECORD_CLASSES:
        policy = settings.RECORDS_RETENTION[record_class.key]
        years = int(policy["years"])
        cutoff = years_later(start_of_day, -years)
        model = django_apps.get_model(record_class.key)
        found = model._default_manager.filter(**{f"{record_class.timestamp_field}__lt": cutoff}).aggregate(
            n=Count("pk"), oldest=Min(record_class.timestamp_field)
        )
        oldest = found["oldest"]
        lines.append(
            RetentionLine(
                record_class=record_class.key,
                label=record_class.label,
                years=years,
                basis=str(policy.get("basis", "")),
                timestamp_field=record_class.timestamp_field,
                cutoff=cutoff,
                past_retention=found["n"],
                oldest=oldest,
                eligible_since=years_later(oldest, years).astimezone(UTC).date() if oldest else None,
            )
        )
    return lines


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
) -> ExportResult:
    """Write an export of ``chains`` into ``directory`` (created; files are never overwritten).

    Each chain is first extended with what has committed (``link_pending``), so that the export
    reaches the present. The range applies to each chain's own numbering."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in [MANIFEST, MANIFEST_SHA256, *(EXPORT_CHAINS[c].file for c in chains)]:
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
        with (directory / spec.file).open("xb") as out:
            for line, chain_hash in _export_lines(chain, first, last, previous, chunk):
                out.write(line)
                digest.update(line)
                records += 1
                last_hash = chain_hash
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
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("ascii")
    with (directory / MANIFEST).open("xb") as out:
        out.write(manifest_bytes)
    manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
    with (directory / MANIFEST_SHA256).open("x", encoding="ascii") as text:
        text.write(f"{manifest_digest}  {MANIFEST}\n")
    return ExportResult(directory=directory, manifest_sha256=manifest_digest, chains=exported)


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


def _verify_chain(directory: Path, entry: dict[str, Any], report: ExportVerification) -> ExportChainCheck:
    check = ExportChainCheck(chain=str(entry.get("chain")), file=str(entry.get("file")))
    path = directory / check.file
    if not path.is_file():
        check.broken(None, entry.get("first_sequence"), f"the file {check.file} is missing")
        return check
    digest = hashlib.sha256()
    previous = str(entry.get("first_previous_chain_hash"))
    first = entry.get("first_sequence")
    expected = int(first) if first is not None else None
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            digest.update(raw)
            if expected is None:  # the manifest says the range is empty
                check.broken(number, None, "a record where the manifest lists none")
                continue
            if check.first_sequence is None:
                check.first_sequence = expected
            expected, previous = _check_line(check, number, raw, expected, previous)
            check.records += 1
            check.last_sequence = expected - 1
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


def export_verify(path: Path) -> ExportVerification:
    """Verify an export (its directory or its ``manifest.json``) from the files alone: the
    manifest's own SHA-256, each file's SHA-256, and every link of every chain. Never touches
    the database."""
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
        report.chains.append(_verify_chain(directory, entry, report))
    return report


# --- GDPR pseudonymisation -----------------------------------------------------------------

PSEUDONYM_PREFIX = "former-client-"
#: The personal data the user model holds (AbstractUser: no address or phone fields exist).
PERSONAL_FIELDS = ("username", "first_name", "last_name", "email")
ERASED = "[erased]"


def pseudonym_for(user_id: int) -> str:
    return f"{PSEUDONYM_PREFIX}{user_id}"


@dataclass(frozen=True)
class Pseudonymisation:
    user_id: int
    pseudonym: str
    already_done: bool
    log_entry_id: int | None


def client_pseudonymise(*, actor: User, username: str) -> Pseudonymisation:
    """Replace a former client's personal data with a stable pseudonym and deactivate them.

    Refused (``Forbidden`` / ``BusinessRuleViolation``, nothing changed) for staff, superusers,
    the system actor and members of a staff role; and while any of the client's trading accounts
    has a non-zero balance on any ledger account (whatever the account's status) or an open
    order. The user row is kept (the ledger, orders and audit log reference it by id, and the
    hash chains hash ids, never names), so every chain stays intact and verifiable.

    The change is saved with django-auditlog's automatic logging switched off (it would copy
    the old values into a new, append-only entry) and recorded instead by one explicit audit
    entry naming the actor, with the old values replaced by ``[erased]``."""
    from auditlog.context import disable_auditlog
    from auditlog.models import LogEntry

    from apps.accounts.models import TradingAccount
    from apps.core.context import current
    from apps.ledger.models import LedgerAccount
    from apps.orders.models import Order
    from apps.orders.state import OPEN
    from apps.users.models import User

    with transaction.atomic(durable=True):
        user = User.objects.select_for_update().filter(username=username).first()
        if user is None:
            raise NotFound(f"No user named {username!r}.", code="user_not_found")
        pseudonym = pseudonym_for(user.pk)
        if user.username == pseudonym and not user.is_active:
            return Pseudonymisation(user.pk, pseudonym, already_done=True, log_entry_id=None)
        if user.is_staff or user.is_superuser or user.username == settings.SYSTEM_USERNAME or user.groups.exists():
            raise Forbidden(
                f"{username!r} is staff (or the system actor): only former clients are pseudonymised.",
                code="not_a_client",
            )
        accounts = TradingAccount.objects.filter(owners=user)
        open_orders = Order.objects.filter(account__in=accounts, status__in=[s.value for s in OPEN]).count()
        if open_orders:
            raise BusinessRuleViolation(
                f"{username!r} still has {open_orders} open order(s).", code="client_has_orders"
            )
        funded = sorted(
            LedgerAccount.objects.filter(trading_account__in=accounts)
            .exclude(balance=0)
            .order_by("trading_account__number")
            .values_list("trading_account__number", flat=True)
            .distinct()
        )
        if funded:
            raise BusinessRuleViolation(
                f"{username!r} still has a non-zero balance on account(s) {', '.join(funded)}.",
                code="client_has_balance",
            )
        if User.objects.filter(username=pseudonym).exclude(pk=user.pk).exists():
            raise Conflict(f"The pseudonym {pseudonym!r} is taken by another user.", code="pseudonym_taken")

        changes: dict[str, list[object]] = {}
        for name in PERSONAL_FIELDS:
            old, new = getattr(user, name), pseudonym if name == "username" else ""
            if old != new:
                changes[name] = [ERASED if old else old, new]
        if user.is_active:
            changes["is_active"] = [True, False]
        changes["password"] = [ERASED, "[unusable]"]
        user.username = pseudonym
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        with disable_auditlog():
            user.save(update_fields=[*PERSONAL_FIELDS, "is_active", "password"])
        context = current()
        entry = LogEntry.objects.log_create(
            user,
            force_log=True,
            action=LogEntry.Action.UPDATE,
            changes=changes,
            actor=actor,
            serialized_data=None,
            remote_addr=context.source_ip,
            additional_data={
                "event": "gdpr_pseudonymisation",
                "pseudonym": pseudonym,
                "legal_basis": (
                    "GDPR Art. 17 erasure of the client's identity on the user record; the books and records "
                    "(ledger, orders, order events, audit log) are kept under Art. 17(3)(b) "
                    "(SEC 17a-4, MiFID II Art. 16(6))"
                ),
                "correlation_id": context.correlation_id,
            },
        )
    return Pseudonymisation(user.pk, pseudonym, already_done=False, log_entry_id=entry.pk if entry else None)
