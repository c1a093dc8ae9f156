"""The paper broker: a deterministic venue simulator over the instruments' reference prices.

See docs/plugins.md for its behaviour and settings.
"""
