"""The broker plugin host: the adapter interface every plugin implements and the typed
values it exchanges (``interface``), the registry that discovers plugins through entry
points and enables them from settings, account routing, the outbox relay that hands orders
to adapters, and the intake of execution reports. Plugins depend on this app; it never
depends on a plugin."""
