"""The FIX wire: reading a raw FIX 4.4 message into a ``FixMessage`` (checking its framing),
its time stamps and numbers, and our order id in a ClOrdID. Pure Python, no engine, no database;
``mapping`` reads what it means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

SOH = "\x01"

# Length-prefixed data fields (data tag -> its length tag): their value may contain SOH.
_DATA_FIELDS = {89: 93, 91: 90, 96: 95, 213: 212, 349: 348, 351: 350, 353: 352, 355: 354, 357: 356}
_DATA_FIELDS |= {359: 358, 361: 360, 363: 362, 365: 364, 446: 445, 619: 618, 622: 621}
_TRAILER = frozenset({10, 89, 93})
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")  # FIX Float: no exponent, no "+", no NaN
_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}|\d{6}|\d{9}))?")
_CL_ORD_ID = re.compile(r"([1-9]\d*)(?:-\d+)?")


class MalformedMessage(ValueError):
    """The message is broken: framing, checksum, body length, a missing required tag, a bad value."""


class UnsupportedMessage(ValueError):
    """A well-formed message that must not be booked silently (trade bust or correction,
    restatement, sell short, an ExecType we do not know...): someone has to look at it."""


@dataclass(frozen=True)
class FixMessage:
    """One parsed message: every field in wire order, header and trailer included."""

    pairs: tuple[tuple[int, str], ...]

    @property
    def msg_type(self) -> str:
        """MsgType (35)."""
        return self.require(35)

    def get(self, tag: int, default: str | None = None) -> str | None:
        """The value of the first occurrence of ``tag``, else ``default``."""
        return next((value for t, value in self.pairs if t == tag), default)

    def require(self, tag: int) -> str:
        """The value of ``tag``; ``MalformedMessage`` naming the tag if it is missing or empty."""
        value = self.get(tag)
        if not value:
            raise MalformedMessage(f"required tag {tag} is {'empty' if value == '' else 'missing'}")
        return value

    def group(self, count_tag: int, first_tag: int) -> list[dict[int, str]]:
        """The members of the repeating group counted by ``count_tag``; each member starts with
        ``first_tag`` (the delimiter) right after the count. A member ends at the next delimiter,
        at a tag it already holds, or at the trailer: without a data dictionary, body fields that
        follow the group are read into its last member (harmless for a reader that takes only
        the member tags it knows). ``MalformedMessage`` when the count differs from the members
        found, or the delimiter appears outside the group."""
        index = next((i for i, (tag, _) in enumerate(self.pairs) if tag == count_tag), None)
        total = sum(1 for tag, _ in self.pairs if tag == first_tag)
        if index is None:
            if total:
                raise MalformedMessage(f"tag {first_tag} appears without its group count tag {count_tag}")
            return []
        text = self.pairs[index][1]
        if not text.isdigit():
            raise MalformedMessage(f"group count tag {count_tag} is not a count: {text!r}")
        members: list[dict[int, str]] = []
        for tag, value in self.pairs[index + 1 :]:
            if tag == first_tag:
                members.append({tag: value})
            elif not members or tag in members[-1] or tag in _TRAILER:
                break
            else:
                members[-1][tag] = value
        if int(text) != len(members) or total != len(members):
            raise MalformedMessage(
                f"repeating group {count_tag} says {int(text)} entries, found {len(members)} "
                f"starting with tag {first_tag} ({total} in the message)"
            )
        return members


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def parse(raw: str | bytes, *, validate: bool = True) -> FixMessage:
    """Parse one message; the separator is SOH, or "|" (as in logs) when there is no SOH.

    With ``validate``: 8=FIX.4.4 first, 9 BodyLength second and equal to the bytes from 35 up to
    the 10 field, 35 third, 10 CheckSum last (three digits, the sum of the bytes before it mod 256),
    no empty values. Every problem is a ``MalformedMessage`` saying what is wrong."""
    data = raw if isinstance(raw, bytes) else raw.encode()
    if b"\x01" not in data and b"|" in data:
        data = data.replace(b"|", b"\x01")
    pairs: list[tuple[int, str]] = []
    starts: list[int] = []
    lengths: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        equals = data.find(b"=", pos)
        tag_text = data[pos:equals] if equals >= 0 else b""
        if not tag_text.isdigit() or tag_text.startswith(b"0"):
            raise MalformedMessage(f"no valid tag at byte {pos}: {data[pos : pos + 12]!r}")
        tag = int(tag_text)
        if tag in _DATA_FIELDS and _DATA_FIELDS[tag] in lengths:
            end = equals + 1 + lengths[_DATA_FIELDS[tag]]
            if data[end : end + 1] != b"\x01":
                raise MalformedMessage(f"data field {tag} does not end where its length tag {_DATA_FIELDS[tag]} says")
        else:
            end = data.find(b"\x01", equals + 1)
            if end < 0:
                raise MalformedMessage(f"tag {tag} is not terminated by a field separator")
        value = data[equals + 1 : end]
        if validate and not value:
            raise MalformedMessage(f"tag {tag} has an empty value")
        if tag in _DATA_FIELDS.values() and value.isdigit():
            lengths[tag] = int(value)
        pairs.append((tag, _text(value)))
        starts.append(pos)
        pos = end + 1
    if validate:
        _check_frame(data, pairs, starts)
    if not pairs:
        raise MalformedMessage("empty message")
    return FixMessage(tuple(pairs))


def _check_frame(data: bytes, pairs: list[tuple[int, str]], starts: list[int]) -> None:
    tags = [tag for tag, _ in pairs]
    if not tags or tags[0] != 8 or pairs[0][1] != "FIX.4.4":
        raise MalformedMessage(f"BeginString 8 must come first and be FIX.4.4, got {pairs[:1]}")
    if len(tags) < 4 or tags[1] != 9:
        raise MalformedMessage("BodyLength 9 must come second")
    if tags[2] != 35:
        raise MalformedMessage("MsgType 35 must come third")
    if tags[-1] != 10 or tags.count(10) > 1:
        raise MalformedMessage("CheckSum 10 must come last, once")
    if tags.count(8) > 1 or tags.count(9) > 1:
        raise MalformedMessage("BeginString 8 and BodyLength 9 must appear once")
    declared, length = pairs[1][1], starts[-1] - starts[2]
    if not declared.isdigit() or int(declared) != length:
        raise MalformedMessage(f"BodyLength 9 says {declared!r}, the body has {length} bytes")
    checksum, actual = pairs[-1][1], sum(data[: starts[-1]]) % 256
    if len(checksum) != 3 or not checksum.isdigit():
        raise MalformedMessage(f"CheckSum 10 must be three digits, got {checksum!r}")
    if int(checksum) != actual:
        raise MalformedMessage(f"CheckSum 10 says {checksum}, the message sums to {actual:03d}")


def fix_time(moment: datetime) -> str:
    """A UTCTimestamp with microseconds, "YYYYMMDD-HH:MM:SS.ffffff"; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a FIX time needs a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")


def parse_fix_time(text: str) -> datetime:
    """A UTCTimestamp with no fraction or 3, 6 or 9 fractional digits (nanoseconds are truncated
    to microseconds), as an aware UTC datetime; ``MalformedMessage`` otherwise."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise MalformedMessage(f"not a UTCTimestamp: {text!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = match.group(7)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise MalformedMessage(f"not a UTCTimestamp: {text!r} ({exc})") from None
    return moment.replace(microsecond=int((fraction or "0").ljust(6, "0")[:6]))


def fix_decimal(value: Decimal) -> str:
    """A Decimal as a FIX Float: plain digits, no exponent, no trailing zeros ("10", "0.01")."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"a FIX number needs a finite Decimal, got {value!r}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def wire_decimal(text: str, tag: int) -> Decimal:
    """A FIX Float from the wire as a Decimal (never through float); ``MalformedMessage`` otherwise."""
    if not _NUMBER.fullmatch(text):
        raise MalformedMessage(f"tag {tag} is not a number: {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        raise MalformedMessage(f"tag {tag} is not a number: {text!r}") from None


def order_id_of(cl_ord_id: str) -> int:
    """Our order id from one of our ClOrdIDs: "123" (a submit) or "123-456" (a cancel or replace)."""
    match = _CL_ORD_ID.fullmatch(cl_ord_id)
    if match is None:
        raise MalformedMessage(f"ClOrdID {cl_ord_id!r} is not one of ours (order id, or order id-instruction id)")
    return int(match.group(1))
