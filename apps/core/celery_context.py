"""Every Celery task runs in a unit-of-work context: the correlation id is the task's id (or
the one its sender passed in the ``correlation_id`` header), and the actor is the named system
actor unless the sender passed ``actor_id``. Audit rows written by tasks are attributed
accordingly (never left blank)."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun

from apps.core import context

_tokens: dict[str, Token[context.RequestContext | None]] = {}


def _header(task: Any, name: str) -> Any:
    request = getattr(task, "request", None)
    value = getattr(request, name, None) if request is not None else None
    if value is None and request is not None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


@task_prerun.connect(dispatch_uid="core-task-context-bind")
def bind_task_context(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    correlation_id = _header(task, "correlation_id") or task_id or context.new_correlation_id()
    actor_id = _header(task, "actor_id")
    ctx = context.RequestContext(
        correlation_id=str(correlation_id)[:64], actor_id=actor_id if isinstance(actor_id, int) else None
    )
    if task_id:
        _tokens[task_id] = context.push(ctx)


@task_postrun.connect(dispatch_uid="core-task-context-unbind")
def unbind_task_context(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        context.pop(token)
