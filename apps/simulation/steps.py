"""The steps of a simulation run, generated up front from its seed.

A step names what happens (a client action, a periodic job, something the venue does, the clock)
and carries its own ``salt``: every random choice the step makes (which order, what price, the
venue's rolls during the step) comes from it. A run is therefore a pure function of its step list,
and removing steps (shrinking) leaves the others meaning what they meant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from apps.simulation.venue import Faults

# kind: weight. Client actions, jobs, the venue, the clock.
WEIGHTS: dict[str, int] = {
    "place": 22,
    "replace": 6,
    "cancel": 6,
    "deposit": 1,
    "withdraw": 1,
    "price": 6,
    "kill_switch": 1,
    "trading_state": 1,
    "restrict": 1,
    "relay": 14,
    "poll": 8,
    "resync": 3,
    "session_close": 1,
    "sequencers": 2,
    "reconcile": 1,
    "venue_fill": 10,
    "venue_answer": 4,
    "venue_cancel": 1,
    "venue_restart": 1,
    "venue_outage": 1,
    "venue_garbage": 1,
    "tick": 4,
}
# Steps in which a crash may be injected (at the n-th fault point the step passes).
CRASHABLE = frozenset({"place", "replace", "cancel", "relay", "poll", "resync", "session_close", "kill_switch"})
CRASH_RATE = 0.08


@dataclass(frozen=True)
class Step:
    kind: str
    salt: int
    crash: int = 0  # crash at the n-th fault point passed during the step (0: no crash)

    def __str__(self) -> str:
        return f"{self.kind}#{self.salt}" + (f"!{self.crash}" if self.crash else "")

    @classmethod
    def parse(cls, text: str) -> Step:
        """The inverse of ``str``: ``kind#salt`` or ``kind#salt!crash``."""
        kind, _, rest = text.partition("#")
        salt, _, crash = rest.partition("!")
        if kind not in WEIGHTS or not salt.isdigit() or (crash and not crash.isdigit()):
            raise ValueError(f"not a step: {text!r}")
        return cls(kind, int(salt), int(crash or 0))


def generate(seed: int, count: int) -> list[Step]:
    rng = random.Random(f"steps:{seed}")
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    steps = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        crash = rng.randint(1, 4) if kind in CRASHABLE and rng.random() < CRASH_RATE else 0
        steps.append(Step(kind, rng.randrange(2**31), crash))
    return steps


def faults_for(seed: int) -> Faults:
    """How badly the venue behaves in this run: calm, rough, or hostile, drawn from the seed."""
    rng = random.Random(f"faults:{seed}")
    level = rng.choice([0.0, 0.5, 1.0, 1.0, 1.5])

    def p(base: float) -> float:
        return round(base * level * rng.uniform(0.5, 1.5), 4)

    return Faults(
        refuse=p(0.05),
        error_before=p(0.03),
        timeout=p(0.06),
        error_after=p(0.04),
        late=p(0.15),
        reject_new=p(0.05),
        reject_cancel=p(0.1),
        reject_replace=p(0.1),
        defer=p(0.3),
        fill_on_entry=0.5,
        drop=p(0.04),
        duplicate=p(0.1),
        reorder=level > 0 and rng.random() < 0.7,
    )
