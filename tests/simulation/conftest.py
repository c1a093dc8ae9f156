"""The simulated venue as the one broker, for tests that script it step by step."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.brokers import registry
from apps.brokers.interface import PluginSpec
from apps.simulation.venue import NAME, SimVenue


@pytest.fixture
def sim(settings, instrument):  # type: ignore[no-untyped-def]
    """A well-behaved simulated venue routing every account (faults are set by each test)."""
    venue = SimVenue(clock=timezone.now, prices={"ACME": Decimal("100.00")})
    venue.faults.fill_on_entry = 0.0
    settings.BROKERS = {NAME: {}}
    settings.DEFAULT_BROKER = NAME
    with registry.registered(PluginSpec(name=NAME, factory=lambda _settings: venue)):
        yield venue
