"""The currencies every installation has (ISO 4217 code, name, minor-unit scale)."""

from __future__ import annotations

CURRENCIES: tuple[tuple[str, str, int], ...] = (
    ("USD", "US dollar", 2),
    ("EUR", "Euro", 2),
    ("GBP", "Pound sterling", 2),
    ("CHF", "Swiss franc", 2),
    ("JPY", "Japanese yen", 0),
    ("CAD", "Canadian dollar", 2),
)


def currencies_ensure() -> None:
    """Create the standard currencies if missing (migrations do this; tests that flush call it)."""
    from apps.ledger.models import Asset, AssetKind

    for code, name, scale in CURRENCIES:
        Asset.objects.get_or_create(code=code, defaults={"kind": AssetKind.CURRENCY, "name": name, "scale": scale})
