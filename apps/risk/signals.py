"""Signals risk sends for the apps above it (risk imports none of them).

``limit_breached``: the mark-to-market job moved a target to a stricter trading state because
a limit was breached. Sent inside the state change's transaction, with ``breach``
(``apps.risk.exposure.Breach``: code, account id or None for the firm, state, value, limit,
reason), ``details`` (the figures, JSON-ready with Django's encoder) and ``state`` (the
``TradingState`` row written). Compliance raises an alert from it."""

from __future__ import annotations

from django.dispatch import Signal

limit_breached = Signal()
