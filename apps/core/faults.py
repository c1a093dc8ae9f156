"""Fault points: named places in the trade path where a simulation may inject a crash.

``point("relay.after_call")`` does nothing in production (one global read). Under
:func:`injecting`, the installed injector is called with the point's name and may raise
:class:`InjectedCrash`, which stands for the process dying there: it derives from
``BaseException`` so that no ``except Exception`` in the pipeline swallows it, and a
transaction open at that point rolls back as it would if the worker had been killed.

A point inside an ``atomic`` block is a transaction aborted before commit; a point between
transactions is a crash between steps. The simulation (``apps.simulation``) chooses where
to crash by counting the points it passes, so it needs no knowledge of their names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Injector = Callable[[str], None]

_injector: Injector | None = None


class InjectedCrash(BaseException):
    """A simulated process death at a fault point (never raised outside a simulation)."""

    def __init__(self, point: str) -> None:
        super().__init__(f"injected crash at {point}")
        self.point = point


def point(name: str) -> None:
    """A place where the process may die. A no-op unless an injector is installed."""
    if _injector is not None:
        _injector(name)


@contextmanager
def injecting(injector: Injector) -> Iterator[None]:
    """Install ``injector`` for the block (one at a time; not thread-safe by design)."""
    global _injector  # noqa: PLW0603 - the process-wide hook the points read
    if _injector is not None:
        raise RuntimeError("a fault injector is already installed")
    _injector = injector
    try:
        yield
    finally:
        _injector = None
