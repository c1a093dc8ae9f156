"""Structured logs: structlog renders every line, those of stdlib loggers too.

``logging_settings`` builds the ``LOGGING`` dict of the settings: one handler whose formatter is
structlog's ``ProcessorFormatter``, so a line from ``logging.getLogger(...)`` (ours, Django's,
Celery's) and one from ``structlog.get_logger()`` go through the same processors:

- the request context (``apps.core.context``): correlation id and actor, where a unit of work
  is bound (a request, a task, a command);
- whatever the code bound with ``structlog.contextvars.bind_contextvars`` /
  ``bound_contextvars`` (``account_id``, ``order_id``, ``broker``);
- secrets masked: the value of any key that names one (password, token, secret,
  authorization, cookie, refresh, access, ...) at any depth, and anything that looks like a
  JSON Web Token or a bearer credential in any string, the message included.

``"json"`` renders one JSON object a line (production); ``"console"`` a readable line. This
module imports nothing from Django, so the settings can import it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from apps.core import context

MASK = "[masked]"
#: a key containing one of these (case-insensitive) has its value masked
SECRET_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "refresh",
    "access",
    "api_key",
    "apikey",
    "credential",
    "session",
    "signature",
    "private",
)
_SECRET_KEY = re.compile("|".join(SECRET_KEYS), re.IGNORECASE)
#: a JSON Web Token (three base64url parts, the first two JSON objects), a bearer or basic credential
_SECRET_VALUE = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*|\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}",
)
#: the fields of our own that a rendered line keeps as they are
_KEEP = frozenset({"event", "level", "logger", "timestamp", "correlation_id", "actor_id"})


def _mask_value(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return value
    if isinstance(value, str):
        return _SECRET_VALUE.sub(MASK, value) if ("eyJ" in value or " " in value) else value
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and _SECRET_KEY.search(k) else _mask_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(v, depth + 1) for v in value)
    return value


def mask_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask the values of keys that name secrets, and tokens inside any string."""
    for key, value in list(event_dict.items()):
        if key in _KEEP and key != "event":
            continue
        if key != "event" and _SECRET_KEY.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _mask_value(value)
    return event_dict


def add_request_context(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """The correlation id and actor of the current unit of work (none outside one)."""
    ctx = context.peek()
    if ctx is not None:
        event_dict.setdefault("correlation_id", ctx.correlation_id)
        if ctx.actor_id is not None:
            event_dict.setdefault("actor_id", ctx.actor_id)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_request_context,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
    ]


class Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ``ProcessorFormatter`` for ``fmt`` ("json" or "console"), built from the
    ``LOGGING`` dict (``"()": "apps.core.logs.Formatter"``)."""

    def __init__(self, fmt: str = "json", **kwargs: Any) -> None:
        renderer: Any
        if fmt == "json":
            tail: list[Any] = [structlog.processors.format_exc_info, mask_secrets]
            renderer = structlog.processors.JSONRenderer(default=str, sort_keys=False)
        else:
            tail = [mask_secrets]
            renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), sort_keys=False)
        super().__init__(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
            **kwargs,
        )


def logging_settings(fmt: str, *, level: str = "INFO") -> dict[str, Any]:
    """The ``LOGGING`` dict: every logger through one stream handler rendered by structlog."""
    if fmt not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be json or console, not {fmt!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": "apps.core.logs.Formatter", "fmt": fmt}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"pgserver": {"level": "WARNING"}},
    }


def configure_structlog() -> None:
    """Loggers from ``structlog.get_logger()`` hand their events to stdlib logging, whose handler
    renders them (called once, when the core app is ready)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter_for(fmt: str) -> logging.Formatter:
    """A formatter as the settings build it (for tests and ad hoc handlers)."""
    return Formatter(fmt)
