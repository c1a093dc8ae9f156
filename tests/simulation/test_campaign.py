"""The CI campaign: the venue simulation on fixed seeds plus a few fresh ones, about two minutes.
Any violation fails with the seed, what was found, and the command that reproduces it
(``manage.py simulate --seed N --steps M --shrink`` prints the shortest step list).

The fresh seeds are drawn from the commit under test, so every commit explores new ground and a
commit's campaign is the same on every run (a red CI reproduces); ``SIMULATION_SEEDS="7 8 9"``
names them instead. Wide exploration is the long campaign's job (docs/reliability.md)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

import pytest

from apps.simulation import runner

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXED = [*range(1, 17), 659, 766, 133477991]  # 1-16, then every seed a campaign found failing
FRESH = 3
STEPS = int(os.environ.get("SIMULATION_STEPS", "200"))


def seeds() -> list[int]:
    named = os.environ.get("SIMULATION_SEEDS", "").split()
    if named:
        return FIXED + [int(s) for s in named]
    return FIXED + fresh(_commit())


def fresh(commit: str) -> list[int]:
    if not commit:  # not a git checkout: truly fresh
        return [random.SystemRandom().randrange(1000, 10**9) for _ in range(FRESH)]
    digest = hashlib.sha256(commit.encode()).digest()
    return [1000 + int.from_bytes(digest[4 * i : 4 * i + 4], "big") % (10**9 - 1000) for i in range(FRESH)]


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@pytest.mark.parametrize("seed", seeds())
def test_seed(seed):
    result = runner.run(seed, STEPS)
    assert result.ok, (
        f"{result.summary()}\nreproduce: manage.py simulate --seed {seed} --steps {STEPS} --shrink\n"
        + "\n".join(result.trace[-15:])
    )
    assert result.steps_run == STEPS
