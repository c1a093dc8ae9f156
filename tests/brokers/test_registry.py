"""The registry: plugins discovered through entry points, enabled and configured by settings."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import EntryPoint, entry_points

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.brokers import registry
from apps.brokers.interface import BrokerAdapter, PluginSpec
from apps.core.errors import ApplicationError
from plugins.paper.adapter import PaperBroker
from tests.plugins.dummy.plugin import DummyBroker
from tests.plugins.dummy.plugin import spec as dummy_spec

NOT_A_SPEC = object()
MISNAMED = PluginSpec(name="other", factory=DummyBroker)


@pytest.fixture(autouse=True)
def _fresh_registry():
    registry.reset()
    yield
    registry.reset()


def test_the_paper_plugin_is_installed_as_an_entry_point():
    (ep,) = [ep for ep in entry_points(group=registry.ENTRY_POINT_GROUP) if ep.name == "paper"]
    assert ep.value == "plugins.paper.plugin:spec"
    spec = registry.spec_from_entry_point(ep)
    assert spec.name == "paper" and spec.default_settings["commission_minimum"] == "1.00"
    assert "paper" in registry.installed_plugins()


def test_only_configured_and_installed_brokers_are_enabled(settings):
    settings.BROKERS = {"paper": {}, "ghost": {}}
    assert registry.enabled_brokers() == ["paper"]
    settings.BROKERS = {}
    assert registry.enabled_brokers() == []


def test_the_default_settings_enable_the_paper_broker(settings):
    assert "paper" in settings.BROKERS and settings.DEFAULT_BROKER == "paper"
    assert registry.enabled_brokers() == ["paper"]


def test_an_adapter_is_built_once_per_process(settings):
    settings.BROKERS = {"paper": {}}
    adapter = registry.get_adapter("paper")
    assert isinstance(adapter, PaperBroker) and isinstance(adapter, BrokerAdapter)
    assert registry.get_adapter("paper") is adapter
    registry.reset()
    assert registry.get_adapter("paper") is not adapter


def test_changing_the_settings_rebuilds_the_adapter(settings):
    settings.BROKERS = {"paper": {"seed": 1}}
    first = registry.get_adapter("paper")
    settings.BROKERS = {"paper": {"seed": 2}}
    second = registry.get_adapter("paper")
    assert (first.settings.seed, second.settings.seed) == (1, 2)


@pytest.mark.parametrize(("configured", "name"), [({}, "paper"), ({"paper": {}}, "nope"), ({"ghost": {}}, "ghost")])
def test_a_disabled_or_unknown_broker_is_refused(settings, configured, name):
    settings.BROKERS = configured
    with pytest.raises(registry.UnknownBroker) as caught:
        registry.get_adapter(name)
    assert isinstance(caught.value, ApplicationError)
    assert caught.value.code == "unknown_broker" and name in caught.value.detail


def test_settings_override_the_spec_defaults(settings):
    settings.BROKERS = {"paper": {"slippage_bps": "5", "seed": "42", "partial_fill_quantity": "25"}}
    merged = registry.broker_settings("paper")
    assert merged["slippage_bps"] == "5" and merged["commission_per_share"] == "0.005"
    adapter = registry.get_adapter("paper")
    assert adapter.settings.slippage_bps == Decimal(5)
    assert adapter.settings.seed == 42
    assert adapter.settings.partial_fill_quantity == Decimal(25)
    assert adapter.settings.commission_minimum == Decimal("1.00")


@pytest.mark.parametrize(
    "paper",
    [{"slipage_bps": "5"}, {"slippage_bps": 0.5}, {"max_fill_ratio": "2"}, {"random_walk": "maybe"}, {"seed": "x"}],
)
def test_bad_settings_fail_loudly(settings, paper):
    settings.BROKERS = {"paper": paper}
    with pytest.raises(ImproperlyConfigured):
        registry.get_adapter("paper")


def test_a_registered_plugin_must_still_be_enabled(settings):
    settings.BROKERS = {}
    with registry.registered(dummy_spec):
        assert "dummy" in registry.installed_plugins()
        with pytest.raises(registry.UnknownBroker):
            registry.get_adapter("dummy")
        settings.BROKERS = {"dummy": {"price": "12.34"}}
        adapter = registry.get_adapter("dummy")
        assert isinstance(adapter, DummyBroker) and adapter.price == Decimal("12.34")
        with pytest.raises(ImproperlyConfigured), registry.registered(dummy_spec):
            pass
    assert "dummy" not in registry.installed_plugins()
    with pytest.raises(registry.UnknownBroker):
        registry.get_adapter("dummy")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tests.brokers.test_registry:NOT_A_SPEC", "must resolve to a PluginSpec"),
        ("tests.brokers.test_registry:MISNAMED", "resolves to a PluginSpec named 'other'"),
        ("tests.brokers.no_such_module:spec", "cannot be loaded"),
    ],
)
def test_a_broken_entry_point_is_reported(value, message):
    ep = EntryPoint(name="broken", value=value, group=registry.ENTRY_POINT_GROUP)
    with pytest.raises(ImproperlyConfigured, match=message):
        registry.spec_from_entry_point(ep)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda settings: object(), "not a BrokerAdapter"),
        (lambda settings: DummyBroker({"price": 1, "fee": 0}), "named 'dummy'"),
        ("x", "not callable"),
    ],
)
def test_a_factory_must_build_the_adapter_it_names(settings, factory, message):
    settings.BROKERS = {"broken": {}}
    with (
        registry.registered(PluginSpec(name="broken", factory=factory)),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        registry.get_adapter("broken")
