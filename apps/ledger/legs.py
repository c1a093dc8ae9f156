"""Legs: the validated input of a posting, and its canonical fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.core.decimals import AMOUNT_DECIMAL_PLACES, check_scale, to_decimal
from apps.ledger import errors

MAX_LEGS = 64
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Leg:
    """A signed amount for one ledger account: positive increases its balance."""

    account_id: int
    amount: Decimal


def normalize_legs(legs: Iterable[Leg | tuple[Any, Any]]) -> list[Leg]:
    """Check shape and amounts before any query: 2..64 legs, distinct accounts, finite
    non-zero decimals with at most 8 decimal places. Asset scale is checked under lock."""
    result: list[Leg] = []
    seen: set[int] = set()
    for raw in legs:
        account, amount = (raw.account_id, raw.amount) if isinstance(raw, Leg) else raw
        account_id = getattr(account, "pk", account)
        if isinstance(account_id, bool) or not isinstance(account_id, int):
            raise errors.InvalidLegs(f"A leg's account must be a ledger account or its id, not {account_id!r}.")
        value = check_scale(to_decimal(amount), scale=AMOUNT_DECIMAL_PLACES)
        if value == 0:
            raise errors.InvalidAmount("A leg's amount must not be zero.")
        if account_id in seen:
            raise errors.InvalidLegs(f"Ledger account {account_id} appears in more than one leg.")
        seen.add(account_id)
        result.append(Leg(account_id, value))
    if len(result) < 2:
        raise errors.InvalidLegs("A journal transaction needs at least two legs.")
    if len(result) > MAX_LEGS:
        raise errors.InvalidLegs(f"A journal transaction may have at most {MAX_LEGS} legs.")
    return result


def check_idempotency_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise errors.InvalidIdempotencyKey(
            f"The idempotency key must be a non-empty printable string of at most {MAX_KEY_LENGTH} characters."
        )
    return key


def fingerprint(
    kind: str, legs: Sequence[Leg], *, reverses_id: int | None = None, hold_id: int | None = None, extra: str = ""
) -> str:
    """SHA-256 of what the transaction does, so that a retry can be told from a conflict."""
    canonical = "|".join(
        [kind, str(reverses_id or ""), str(hold_id or ""), extra]
        + [f"{leg.account_id}:{leg.amount:f}" for leg in sorted(legs, key=lambda leg: leg.account_id)]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
