"""Transaction helpers: the durable outermost transaction with bounded retry on
deadlock (40P01) and serialization failure (40001)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

P = ParamSpec("P")
R = TypeVar("R")

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) if cause is not None else None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and _sqlstate(exc) in RETRYABLE_SQLSTATES


def atomic_with_retry(attempts: int = 5, base_delay: float = 0.005) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in ``transaction.atomic(durable=True)``; retry the whole transaction
    on deadlock or serialization failure, with bounded, jittered exponential backoff."""

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(attempts):
                try:
                    with transaction.atomic(durable=True):
                        return func(*args, **kwargs)
                except OperationalError as exc:
                    if not is_retryable(exc) or attempt == attempts - 1:
                        raise
                    time.sleep(base_delay * (2**attempt) * (1 + random.random()))  # noqa: S311 - jitter, not security
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper

    return decorator
