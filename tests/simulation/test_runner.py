"""The simulation itself: a run is a pure function of its seed (so a failing seed reproduces), the
shrinker finds a short failing step list, step lists round-trip through text, and the auditor
catches a planted fault."""

from __future__ import annotations

import pytest

from apps.orders import holds
from apps.simulation import runner
from apps.simulation.steps import Step, generate

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_seed_runs_the_same_run_twice():
    first = runner.run(5, 60)
    second = runner.run(5, 60)
    assert first.trace == second.trace
    assert first.ok and any("filled" in line or "fill" in line for line in first.trace)


def test_different_seeds_run_different_runs():
    assert generate(1, 50) != generate(2, 50)
    assert runner.run(1, 30).trace != runner.run(2, 30).trace


def test_steps_read_back_from_their_text():
    steps = generate(7, 100)
    assert [Step.parse(str(step)) for step in steps] == steps
    with pytest.raises(ValueError, match="not a step"):
        Step.parse("explode#12")


def test_ddmin_keeps_only_the_steps_that_matter():
    steps = [Step("tick", i) for i in range(40)]
    a, b = steps[7], steps[31]

    def fails(candidate):
        return a in candidate and b in candidate and candidate.index(a) < candidate.index(b)

    assert runner.ddmin(steps, fails) == [a, b]


def test_the_auditor_catches_a_planted_fault_and_the_shrinker_isolates_it(monkeypatch):
    """A hold that is never released after a fill: the auditor names it at the first fill, and the
    shrinker cuts the run down to the few steps that make a fill happen."""
    monkeypatch.setattr(holds, "release_excess", lambda *args, **kwargs: None)
    monkeypatch.setattr("apps.orders.fills.release_excess", lambda *args, **kwargs: None)
    result = runner.run(3, 120)
    assert not result.ok
    assert "hold_mismatch" in result.kinds or "ledger_verify" in result.kinds
    shortest = runner.shrink(result, budget=40)
    assert len(shortest) < min(result.steps_run, 12)
    assert runner.run(3, steps=shortest).kinds & result.kinds
    assert any(step.kind == "place" for step in shortest)
