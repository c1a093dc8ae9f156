"""The sequencer's cost and lag: gap-free numbers are assigned after commit.

Postings queue their transaction in ``ledger_unsequenced``; ``sequence_assign`` (beat runs
it every ``INTERVAL`` seconds) numbers what has committed. While the write scenarios run,
a thread of the parent plays beat: it runs the sequencer every ``INTERVAL`` seconds and
records each round. The lag of a transaction is ``assigned_at - posted_at``: how long a
committed posting waits for its number.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

#: seconds between sequencer runs, as beat schedules it (``apps/core/schedules.py``)
INTERVAL = 2.0


@dataclass
class Rounds:
    #: (transactions numbered, seconds) per call of ``sequence_assign`` that numbered any
    rounds: list[tuple[int, float]] = field(default_factory=list)

    @property
    def numbered(self) -> int:
        return sum(count for count, _ in self.rounds)

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.rounds)


class Beat(threading.Thread):
    """Run the sequencer every ``interval`` seconds until ``stop()``; its own connection."""

    def __init__(self, interval: float = INTERVAL) -> None:
        super().__init__(name="bench-sequencer", daemon=True)
        self.interval = interval
        self.recorded = Rounds()
        self.failure: BaseException | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from apps.ledger.sequencing import sequence_assign

        try:
            while True:
                began = time.perf_counter()
                numbered = sequence_assign()
                if numbered:
                    self.recorded.rounds.append((numbered, time.perf_counter() - began))
                if self._stopping.wait(self.interval):
                    break
            began = time.perf_counter()  # a last round for what committed since
            numbered = sequence_assign()
            if numbered:
                self.recorded.rounds.append((numbered, time.perf_counter() - began))
        except BaseException as exc:  # reported by the parent
            self.failure = exc
        finally:
            connection.close()

    def stop(self) -> Rounds:
        self._stopping.set()
        self.join(timeout=60)
        if self.failure is not None:
            raise RuntimeError("the sequencer thread failed") from self.failure
        return self.recorded


@dataclass(frozen=True)
class Lag:
    transactions: int
    p50: float
    p99: float
    maximum: float


def lag(*, after_transaction_id: int) -> Lag:
    """Lag (seconds) of the numbered transactions with an id above ``after_transaction_id``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.assigned_at - t.posted_at)),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.assigned_at - t.posted_at)),
                   max(extract(epoch FROM s.assigned_at - t.posted_at))
              FROM ledger_journalsequence s JOIN ledger_journaltransaction t ON t.id = s.transaction_id
             WHERE t.id > %s
            """,
            [after_transaction_id],
        )
        count, p50, p99, maximum = cursor.fetchone()
    return Lag(int(count), float(p50 or 0), float(p99 or 0), float(maximum or 0))


def last_transaction_id() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM ledger_journaltransaction")
        (value,) = cursor.fetchone()
    return int(value)


def print_sequencer(*, history_numbered: int, history_seconds: float, beat: Rounds, lagged: Lag) -> None:
    print()
    print("Sequencer (gap-free numbers assigned after commit, apps.ledger.sequencing.sequence_assign)")
    if history_numbered:
        per = history_seconds / history_numbered * 10_000
        print(
            f"  after the history build: numbered {history_numbered:,} queued transactions in "
            f"{history_seconds:.2f} s ({per * 1000:.0f} ms per 10,000, {history_numbered / history_seconds:,.0f}/s)"
        )
    if beat.rounds:
        biggest = max(count for count, _ in beat.rounds)
        per = beat.seconds / beat.numbered * 1000 if beat.numbered else 0.0
        print(
            f"  during the write runs, every {INTERVAL:g} s as beat does: {len(beat.rounds)} rounds numbered "
            f"{beat.numbered:,} transactions in {beat.seconds * 1000:.0f} ms ({per:.3f} ms each; "
            f"largest round {biggest:,})"
        )
    print(
        f"  lag from posted_at to assigned_at over those {lagged.transactions:,} transactions: "
        f"p50 {lagged.p50 * 1000:.0f} ms, p99 {lagged.p99 * 1000:.0f} ms, max {lagged.maximum * 1000:.0f} ms"
    )
