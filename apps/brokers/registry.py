"""The broker plugin registry.

Plugins announce themselves with an entry point in the ``backoffice.brokers`` group that
resolves to a :class:`~apps.brokers.interface.PluginSpec`. Only the plugins named in
``settings.BROKERS`` are enabled; each one's settings are ``spec.default_settings`` with
``settings.BROKERS[name]`` merged over them (shallowly). Adapters are built lazily, on first
use, and one instance per process is kept (thread-safe). The cache is dropped whenever
``BROKERS`` changes through Django's ``setting_changed`` signal (pytest-django's ``settings``
fixture, ``override_settings``) and by :func:`reset`.

Tests may add a plugin without an entry point with :func:`registered` (a context manager);
the plugin still has to be enabled in ``settings.BROKERS`` like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from apps.brokers.interface import BrokerAdapter, PluginSpec
from apps.core.errors import BusinessRuleViolation

ENTRY_POINT_GROUP = "backoffice.brokers"

# How the registry calls ``PluginSpec.factory``: with the broker's merged settings, read-only.
Factory = Callable[[Mapping[str, object]], object]


class UnknownBroker(BusinessRuleViolation):
    """The broker is not installed, or installed but not enabled in ``settings.BROKERS``."""

    code = "unknown_broker"
    title = "Unknown or disabled broker"


_lock = threading.RLock()
_adapters: dict[str, BrokerAdapter] = {}
_specs: dict[str, PluginSpec] = {}
_extra: dict[str, PluginSpec] = {}  # registered by tests, without an entry point
_entry_points: dict[str, EntryPoint] | None = None


def _discovered() -> dict[str, EntryPoint]:
    """Entry points of the group by name (scanned once per process until :func:`reset`)."""
    global _entry_points  # noqa: PLW0603 - a process-wide cache
    if _entry_points is None:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found and found[ep.name].value != ep.value:
                raise ImproperlyConfigured(
                    f"Two installed distributions provide the broker plugin {ep.name!r}: "
                    f"{found[ep.name].value} and {ep.value}."
                )
            found[ep.name] = ep
        _entry_points = found
    return _entry_points


def spec_from_entry_point(ep: EntryPoint) -> PluginSpec:
    """Load one entry point and check that it is a PluginSpec named like the entry point."""
    try:
        spec = ep.load()
    except Exception as exc:
        raise ImproperlyConfigured(f"The broker plugin {ep.name!r} ({ep.value}) cannot be loaded: {exc}") from exc
    if not isinstance(spec, PluginSpec):
        raise ImproperlyConfigured(
            f"The entry point {ep.name!r} ({ep.value}) must resolve to a PluginSpec, not {type(spec).__name__}."
        )
    if spec.name != ep.name:
        raise ImproperlyConfigured(f"The entry point {ep.name!r} resolves to a PluginSpec named {spec.name!r}.")
    return spec


def installed_plugins() -> list[str]:
    """Every plugin this process can see (entry points and test registrations), enabled or not."""
    with _lock:
        return sorted(set(_discovered()) | set(_extra))


def _spec(name: str) -> PluginSpec | None:
    with _lock:
        if name in _extra:
            return _extra[name]
        if name not in _specs:
            ep = _discovered().get(name)
            if ep is None:
                return None
            _specs[name] = spec_from_entry_point(ep)
        return _specs[name]


def _configured() -> Mapping[str, Mapping[str, Any]]:
    configured = getattr(settings, "BROKERS", {}) or {}
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured("settings.BROKERS must be a mapping of plugin name to its settings.")
    return configured


def enabled_brokers() -> list[str]:
    """The brokers named in ``settings.BROKERS`` whose plugin is installed, sorted."""
    installed = set(installed_plugins())
    return sorted(name for name in _configured() if name in installed)


def own_relay_brokers() -> list[str]:
    """The enabled brokers whose plugin relays its own instructions (``PluginSpec.own_relay``)."""
    found = []
    for name in enabled_brokers():
        spec = _spec(name)
        if spec is not None and spec.own_relay:
            found.append(name)
    return found


def plugin_spec(name: str) -> PluginSpec:
    """The spec of an enabled broker, or ``unknown_broker``."""
    if name not in _configured():
        raise UnknownBroker(f"The broker {name!r} is not enabled (settings.BROKERS).", broker=name)
    spec = _spec(name)
    if spec is None:
        raise UnknownBroker(f"The broker {name!r} is enabled but no plugin provides it.", broker=name)
    return spec


def broker_settings(name: str) -> Mapping[str, object]:
    """An enabled broker's effective settings: the spec's defaults, overridden by ``settings.BROKERS``."""
    spec = plugin_spec(name)
    overrides = _configured()[name] or {}
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured(f"settings.BROKERS[{name!r}] must be a mapping.")
    unknown = set(overrides) - set(spec.default_settings)
    if spec.default_settings and unknown:
        raise ImproperlyConfigured(
            f"Unknown settings for the broker {name!r}: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(spec.default_settings))})."
        )
    return MappingProxyType({**spec.default_settings, **overrides})


def get_adapter(name: str) -> BrokerAdapter:
    """The adapter of an enabled broker, built on first use and cached for the process."""
    with _lock:
        cached = _adapters.get(name)
        if cached is not None:
            return cached
        spec = plugin_spec(name)
        if not callable(spec.factory):
            raise ImproperlyConfigured(f"The broker plugin {name!r} has a factory that is not callable.")
        factory = cast(Factory, spec.factory)
        adapter = factory(broker_settings(name))
        if not isinstance(adapter, BrokerAdapter):
            raise ImproperlyConfigured(f"The broker plugin {name!r} built {adapter!r}, not a BrokerAdapter.")
        if adapter.name != name:
            raise ImproperlyConfigured(f"The broker plugin {name!r} built an adapter named {adapter.name!r}.")
        _adapters[name] = adapter
        return adapter


def reset() -> None:
    """Forget built adapters, loaded specs and the entry point scan (tests, settings changes)."""
    global _entry_points  # noqa: PLW0603 - a process-wide cache
    with _lock:
        _adapters.clear()
        _specs.clear()
        _entry_points = None


@contextmanager
def registered(spec: PluginSpec) -> Iterator[PluginSpec]:
    """Tests only: make ``spec`` installed (shadowing an entry point of the same name) for the block."""
    with _lock:
        if spec.name in _extra:
            raise ImproperlyConfigured(f"A broker plugin named {spec.name!r} is already registered.")
        _extra[spec.name] = spec
        _adapters.pop(spec.name, None)
    try:
        yield spec
    finally:
        with _lock:
            _extra.pop(spec.name, None)
            _adapters.pop(spec.name, None)


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "BROKERS":
        with _lock:
            _adapters.clear()
