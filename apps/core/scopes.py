"""Values bound for the length of a block (batch scopes: rows locked once, writes deferred)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def bound(var: ContextVar[T | None], value: T) -> Iterator[T]:
    """``var`` holds ``value`` inside the block and what it held before after it (even on error).
    Work done at a scope's normal end goes after the ``with``, so that an error skips it."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
