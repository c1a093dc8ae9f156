"""Who is acting and why: the actor, correlation id and source IP of the current unit of work.

Set by the request middleware for HTTP, by the base task for Celery, and by commands.
Services read it to stamp audit rows; they still take the actor explicitly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    correlation_id: str
    source_ip: str | None = None
    actor_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current() -> RequestContext:
    ctx = _current.get()
    return ctx if ctx is not None else RequestContext(correlation_id=new_correlation_id())


def peek() -> RequestContext | None:
    """The current unit of work's context, or None outside one (``current`` makes one up)."""
    return _current.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bind(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_actor(actor_id: int | None) -> None:
    """Record the actor in the current unit of work (the API does this after authenticating;
    the enclosing ``bind`` restores the previous context when the unit ends)."""
    ctx = _current.get()
    if ctx is None:
        return
    _current.set(RequestContext(correlation_id=ctx.correlation_id, source_ip=ctx.source_ip, actor_id=actor_id))


def push(ctx: RequestContext) -> Token[RequestContext | None]:
    """Enter a unit of work whose end is signalled separately (Celery's prerun/postrun)."""
    return _current.set(ctx)


def pop(token: Token[RequestContext | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # entered in another context: just leave no context behind
        _current.set(None)
