"""The report generators; importing this package registers every kind (apps.reports.kinds)."""

from apps.reports.generators import blotter, cat_events, exceptions, positions, routing, statement  # noqa: F401
