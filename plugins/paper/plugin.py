"""The entry point: ``paper = "plugins.paper.plugin:spec"`` in the ``backoffice.brokers`` group.

Loading the spec imports no models (the adapter is imported when the registry builds it).
"""

from __future__ import annotations

from collections.abc import Mapping

from apps.brokers.interface import BrokerAdapter, PluginSpec
from plugins.paper.config import DEFAULTS, PaperSettings


def build(settings: Mapping[str, object]) -> BrokerAdapter:
    """The factory the registry calls with the merged settings (typed so that mypy checks
    that ``PaperBroker`` implements the protocol)."""
    from plugins.paper.adapter import PaperBroker

    return PaperBroker(PaperSettings.parse(settings))


spec = PluginSpec(
    name="paper",
    factory=build,
    description="Paper trading: fills against reference prices, deterministic under a seed.",
    default_settings=DEFAULTS,
)
