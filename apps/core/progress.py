"""Progress bars for long management commands: drawn on a terminal, silent everywhere else.

A bar is drawn only when its stream is a TTY (an operator at a terminal). Under cron, Celery,
CI or ``call_command`` with a captured stream, nothing is written: progress bars in logs are
noise (one line per refresh, carriage returns).

- :func:`progress` wraps tqdm: ``for item in progress(items, desc="accounts", unit="acct",
  stream=self.stderr)``, or ``with progress(total=n, ...) as bar: work(on_progress=bar.update)``.
- :func:`progress_bars` serves work reporting several parts (one bar per chain, per report
  kind...) through one callback ``on_progress(part, done, total)``; a bar is opened the first
  time a part reports, and all are closed when the ``with`` block ends.

``stream`` is the command's ``self.stderr`` (Django's ``OutputWrapper``) or any text stream;
the default is ``sys.stderr``. The bar writes to the stream underneath the wrapper: the wrapper
appends a newline to every write, which would turn each refresh into a new line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")

#: ``on_progress(part, done, total)``: ``done`` more items of ``part`` (out of ``total``, if known)
OnProgress = Callable[[str, int, "int | None"], None]


def _raw(stream: Any) -> IO[str]:
    """The stream a Django ``OutputWrapper`` writes to (``_out``), or the stream itself."""
    return getattr(stream, "_out", stream)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (``isatty()``); False for anything that is not sure."""
    isatty = getattr(_raw(stream), "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    stream: Any = None,
    enabled: bool = True,
) -> tqdm[Any]:
    """A tqdm bar on ``stream`` (default ``sys.stderr``), disabled unless ``enabled`` and the
    stream is a TTY. Use as an iterable wrapper or as a context manager (``bar.update(n)``)."""
    out = stream if stream is not None else sys.stderr
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=_raw(out),
        disable=not (enabled and is_terminal(out)),
        dynamic_ncols=True,
    )


@contextmanager
def progress_bars(*, unit: str = "it", stream: Any = None, enabled: bool = True) -> Iterator[OnProgress]:
    """Yield an ``on_progress(part, done, total)`` callback drawing one bar per part (opened
    when the part first reports, named after it); every bar is closed on exit."""
    bars: dict[str, tqdm[Any]] = {}

    def on_progress(part: str, done: int, total: int | None) -> None:
        bar = bars.get(part)
        if bar is None:
            bar = bars[part] = progress(total=total, desc=part, unit=unit, stream=stream, enabled=enabled)
        if done:
            bar.update(done)

    try:
        yield on_progress
    finally:
        for bar in bars.values():
            bar.close()
