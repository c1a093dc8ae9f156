"""Instruments and reference prices."""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q

from apps.core.decimals import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


def PriceField(**kwargs: object) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """A price or price increment: NUMERIC(28, 8)."""
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs)  # type: ignore[arg-type]


class AssetClass(models.TextChoices):
    EQUITY = "equity", "Equity"
    ETF = "etf", "Exchange-traded fund"
    BOND = "bond", "Bond"
    CRYPTO = "crypto", "Crypto asset"


class Instrument(models.Model):
    symbol = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices, default=AssetClass.EQUITY)
    currency = models.CharField(max_length=3, help_text="Currency the instrument is quoted and settled in.")
    tick_size = PriceField()
    lot_size = PriceField()
    active = models.BooleanField(default=True)
    asset = models.OneToOneField("ledger.Asset", on_delete=models.PROTECT, related_name="instrument")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "instruments_instrument"
        ordering = ("symbol",)
        constraints = [
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="instrument_tick_size_positive"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="instrument_lot_size_positive"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="instrument_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.symbol


class ReferencePrice(models.Model):
    """The last known price of an instrument and when it was observed."""

    instrument = models.OneToOneField(Instrument, on_delete=models.CASCADE, related_name="reference_price")
    price = PriceField()
    as_of = models.DateTimeField()
    source = models.CharField(max_length=64, default="manual")

    class Meta:
        db_table = "instruments_referenceprice"
        constraints = [models.CheckConstraint(condition=Q(price__gt=0), name="reference_price_positive")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} @ {self.as_of.isoformat()}"


class PriceObservation(models.Model):
    """Every reference price ever recorded, in the order it was recorded: the history the
    end-of-day reports value positions with (the closing price of a day is the last observation
    recorded at or before its close). Append-only: the database refuses UPDATE and DELETE."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    price = PriceField()
    as_of = models.DateTimeField(help_text="When the price was observed (the source's time).")
    source = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(help_text="When we recorded it (our time).")

    class Meta:
        db_table = "instruments_priceobservation"
        indexes = [models.Index(fields=("instrument", "recorded_at"), name="price_observation_recorded")]
        constraints = [models.CheckConstraint(condition=Q(price__gt=0), name="price_observation_positive")]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} @ {self.as_of.isoformat()}"
