"""Running work in real threads, each with its own database connection, released together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection

TIMEOUT = 60  # seconds, for all the threads of one test together


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


def run_in_threads(count: int, work: Callable[[int], Any], timeout: float = TIMEOUT) -> list[Outcome]:
    """Run ``work(i)`` for i in 0..count-1, each in its own thread and database connection,
    all released at once by a barrier. Fails if any thread is still running after ``timeout``."""
    barrier = threading.Barrier(count, timeout=timeout)
    outcomes = [Outcome(error=RuntimeError("the thread never reported")) for _ in range(count)]

    def runner(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = Outcome(value=work(i))
        except BaseException as exc:
            outcomes[i] = Outcome(error=exc)
        finally:
            # Report this backend's statistics (deadlock counts) now, not at some later flush.
            with suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_force_next_flush()")
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,), name=f"ledger-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"still running after {timeout}s (deadlock or lost wake-up): {stuck}"
    return outcomes
