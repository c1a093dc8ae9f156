"""Signals other apps may listen to (the instruments app depends on none of them)."""

from django.dispatch import Signal

#: Sent after a reference price is stored, inside the transaction: ``instrument``, ``price``.
reference_price_changed = Signal()
