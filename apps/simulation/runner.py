"""Running a simulation: one seed's steps against the real services on real PostgreSQL, the
auditor after every step and at quiescence; campaigns of seeds; shrinking a failing run to
the shortest step list that still fails the same way.

The clock is simulated (time-machine): a run starts at a fixed instant and only its steps move
time, so backoffs, stale claims, circuit cool-downs and session closes happen on cue, and a run
is the same run every time. The database is emptied before each run (sequences restarted).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.test.utils import override_settings

from apps.brokers import registry
from apps.brokers.interface import PluginSpec
from apps.simulation import auditor, driver
from apps.simulation.steps import Step, faults_for, generate
from apps.simulation.venue import NAME, Faults, SimVenue

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, before the session close
QUIESCENCE_ROUNDS = 40


@dataclass
class Result:
    seed: int
    steps: list[Step]
    trace: list[str] = field(default_factory=list)
    violations: list[tuple[int, str, str]] = field(default_factory=list)  # (step index or -1, kind, detail)
    failed_at: int | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def steps_run(self) -> int:
        """How many steps ran (a run stops at its first violation)."""
        return len(self.steps) if self.failed_at is None or self.failed_at == -1 else self.failed_at + 1

    @property
    def kinds(self) -> set[str]:
        return {kind for _, kind, _ in self.violations}

    def summary(self) -> str:
        if self.ok:
            return f"seed {self.seed}: {len(self.steps)} steps, no violation"
        where = "at quiescence" if self.failed_at == -1 else f"after step {self.failed_at}"
        lines = [f"seed {self.seed}: {len(self.violations)} violation(s) {where}"]
        lines += [f"  {kind}: {detail}" for _, kind, detail in self.violations[:20]]
        return "\n".join(lines)


@contextmanager
def simulated(seed: int, faults: Faults | None = None) -> Iterator[driver.World]:
    """A fresh database, the simulated clock and venue (the only broker enabled), for one run."""
    import time_machine

    driver.reset_database()
    quiet = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the faults it injects are logged by the code they hit, by design
    try:
        with time_machine.travel(START, tick=False) as traveller:
            yield from _world(seed, faults, traveller)
    finally:
        logging.disable(quiet)


def _world(seed: int, faults: Faults | None, traveller: Any) -> Iterator[driver.World]:
    from django.utils import timezone

    venue = SimVenue(clock=timezone.now, faults=faults or faults_for(seed))
    spec = PluginSpec(name=NAME, factory=lambda _settings: venue, description="the simulated venue")
    with override_settings(BROKERS={NAME: {}}, DEFAULT_BROKER=NAME), registry.registered(spec):
        world = driver.World(venue=venue, shift=traveller.shift, now=timezone.now)
        driver.setup(world)
        yield world


def run(
    seed: int,
    count: int = 200,
    *,
    steps: Sequence[Step] | None = None,
    audit_every: int = 1,
    on_step: Callable[[int, Step, str], None] | None = None,
) -> Result:
    """Run ``steps`` (else ``count`` steps generated from ``seed``); stop at the first violation."""
    plan = list(steps) if steps is not None else generate(seed, count)
    result = Result(seed=seed, steps=plan)
    with simulated(seed) as world:
        truth = auditor.VenueTruth(world.venue)
        for index, step in enumerate(plan):
            world.index = index
            outcome = driver.execute(world, step)
            result.trace.append(f"{step}: {outcome}")
            if on_step:
                on_step(index, step, outcome)
            if (index + 1) % audit_every == 0 or index == len(plan) - 1:
                found = _audit(world, truth, quiescent=False)
                if found:
                    result.violations = [(index, k, d) for k, d in found]
                    result.failed_at = index
                    return result
        settle(world)
        found = _audit(world, truth, quiescent=True)
        if found:
            result.violations = [(-1, k, d) for k, d in found]
            result.failed_at = -1
        result.trace.append(f"quiescent: {_fingerprint()}")
    return result


def _audit(world: driver.World, truth: auditor.VenueTruth, *, quiescent: bool) -> list[tuple[str, str]]:
    found = auditor.audit(truth, NAME, quiescent=quiescent, expected_dead=world.expected_dead)
    found += [("sent_twice", m) for m in world.venue.misuse]
    return found


def settle(world: driver.World) -> None:
    """Bring the run to quiescence: the venue recovers and behaves, answers what it deferred;
    the jobs run, with time passing, until nothing is in flight and nothing undelivered."""
    from apps.brokers.tasks import poll_task, relay_task, resync_task
    from apps.ledger.tasks import sequence_task
    from apps.orders.tasks import sequence_events_task

    venue = world.venue
    venue.faults, venue.down, world.outage_left = Faults.calm(), False, 0
    venue.faults.fill_on_entry = 0.0
    for _ in range(QUIESCENCE_ROUNDS):
        while venue.deferred:
            venue.answer_deferred(0)
        world.shift(400)  # past any backoff, stale claim and circuit cool-down
        relay_task()
        poll_task()
        resync_task()
        poll_task()
        _close_given_up()
        if _settled(world):
            break
    sequence_task()
    sequence_events_task()


def _close_given_up() -> None:
    """Staff work the queue of orders whose sending was given up (a submit dead-lettered at its
    attempt cap): each is closed once the venue confirms it has no such order, as
    ``docs/compliance.md`` tells them to."""
    from apps.brokers.models import OrderInstruction
    from apps.brokers.services import order_close_dead
    from apps.core.actors import system_actor
    from apps.core.errors import ApplicationError
    from apps.orders.state import OPEN

    dead = OrderInstruction.objects.filter(
        status="dead", action="submit", order__status__in=[s.value for s in OPEN]
    ).values_list("order_id", flat=True)
    for order_id in dead:
        try:
            order_close_dead(actor=system_actor(), order_id=order_id, reason="simulation: sending given up")
        except ApplicationError:
            continue  # the venue has it after all: it is open on both sides, and is audited so


def _settled(world: driver.World) -> bool:
    from apps.brokers.models import OrderInstruction
    from apps.orders.models import Order
    from apps.orders.state import OPEN

    if OrderInstruction.objects.filter(status__in=["pending", "in_flight", "unknown"]).exists():
        return False
    if world.venue.unacked or world.venue.deferred:
        return False
    ours = set(Order.objects.filter(status__in=[s.value for s in OPEN]).values_list("pk", flat=True))
    return ours == {o.ticket.order_id for o in world.venue.working()}


def _fingerprint() -> str:
    """What the run ended with, to compare two runs of one seed."""
    from apps.orders.models import Fill, Order

    orders = list(Order.objects.order_by("pk").values_list("pk", "status", "filled_quantity"))
    fills = list(Fill.objects.order_by("exec_id").values_list("exec_id", "quantity", "price", "fee"))
    digest = hashlib.sha256(repr((orders, fills)).encode()).hexdigest()[:16]
    return f"{len(orders)} orders, {len(fills)} fills, digest {digest}"


def campaign(seeds: Sequence[int], count: int, *, on_result: Callable[[Result], Any] | None = None) -> list[Result]:
    results = []
    for seed in seeds:
        result = run(seed, count)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def shrink(result: Result, *, budget: int = 200, log: Callable[[str], None] | None = None) -> list[Step]:
    """The shortest step list found (delta debugging: drop chunks, then single steps, while the
    run still fails with one of the same violation kinds) within ``budget`` reruns."""
    assert not result.ok, "only a failing run shrinks"
    wanted = result.kinds
    steps = list(result.steps[: result.steps_run])
    runs = [0]

    def fails(candidate: list[Step]) -> bool:
        runs[0] += 1
        return bool(run(result.seed, steps=candidate).kinds & wanted)

    return ddmin(steps, fails, budget=budget, log=log, runs=runs)


def ddmin(
    steps: list[Step],
    fails: Callable[[list[Step]], bool],
    *,
    budget: int = 200,
    log: Callable[[str], None] | None = None,
    runs: list[int] | None = None,
) -> list[Step]:
    """Zeller's delta debugging over a step list: ``fails(steps)`` must hold on entry."""
    runs = runs if runs is not None else [0]
    calls = [0]

    def check(candidate: list[Step]) -> bool:
        calls[0] += 1
        return fails(candidate)

    chunks = 2
    while len(steps) >= 2 and calls[0] < budget:
        size = max(len(steps) // chunks, 1)
        reduced = False
        for start in range(0, len(steps), size):
            candidate = steps[:start] + steps[start + size :]
            if candidate and check(candidate):
                steps, chunks, reduced = candidate, max(chunks - 1, 2), True
                if log:
                    log(f"  {len(steps)} steps still fail")
                break
            if calls[0] >= budget:
                break
        if not reduced:
            if size == 1:
                break
            chunks = min(chunks * 2, len(steps))
    return steps
