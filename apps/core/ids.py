"""Ids from the outside world (paths, bodies, query strings)."""

from __future__ import annotations

MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """A positive 64-bit id, else None: callers answer 404 (or 400 in a body) either way."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:  # "²".isdigit(), but int("²") fails
        return None
    pk = int(text)
    return pk if 0 < pk <= MAX_ID else None
