"""The entry point: ``fix44 = "plugins.fix44.plugin:spec"`` in the ``backoffice.brokers`` group.

Loading the spec imports neither models nor the engine (the adapter is imported when the
registry builds it).
"""

from __future__ import annotations

from collections.abc import Mapping

from apps.brokers.interface import BrokerAdapter, PluginSpec
from plugins.fix44.config import DEFAULTS, FixSettings


def build(settings: Mapping[str, object]) -> BrokerAdapter:
    from plugins.fix44.adapter import FixBroker

    return FixBroker(FixSettings.parse(settings))


spec = PluginSpec(
    name="fix44",
    factory=build,
    description="A FIX 4.4 session on the QuickFIX engine, held by its gateway process (manage.py fix_gateway).",
    default_settings=DEFAULTS,
    own_relay=True,
)
