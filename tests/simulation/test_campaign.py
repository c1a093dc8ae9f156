"""The CI campaign: the venue simulation on fixed seeds plus a few fresh ones, about two minutes.
Any violation fails with the seed, what was found, and the command that reproduces it
(``manage.py simulate --seed N --steps M --shrink`` prints the shortest step list)."""

from __future__ import annotations

import os
import random

import pytest

from apps.simulation import runner

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXED = list(range(1, 17))
FRESH = 3
STEPS = int(os.environ.get("SIMULATION_STEPS", "200"))


def seeds() -> list[int]:
    fresh = [random.SystemRandom().randrange(1000, 10**9) for _ in range(FRESH)]
    return FIXED + fresh


@pytest.mark.parametrize("seed", seeds())
def test_seed(seed):
    result = runner.run(seed, STEPS)
    assert result.ok, (
        f"{result.summary()}\nreproduce: manage.py simulate --seed {seed} --steps {STEPS} --shrink\n"
        + "\n".join(result.trace[-15:])
    )
    assert result.steps_run == STEPS
