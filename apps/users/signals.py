"""The log-in hooks the users app offers. The compliance app, higher up, records each as a
security event (apps/compliance/receivers.py); Django's own ``user_logged_in``,
``user_login_failed`` and ``user_logged_out`` cover the rest."""

from __future__ import annotations

from django.dispatch import Signal

#: A log-in refused because its user name is locked out (either door). Arguments: ``request``, ``username``.
login_locked_out = Signal()
#: API tokens issued for a user name and password. Arguments: ``request``, ``user``, ``username``.
token_issued = Signal()
#: An API refresh token exchanged for new tokens. Arguments: ``request``, ``user`` (or None).
token_refreshed = Signal()
