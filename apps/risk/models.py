"""Trading states, the restricted list and risk limits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.ledger.fields import AmountField


class TradingStateValue(models.TextChoices):
    ACTIVE = "active", "Active"
    REDUCING = "reducing", "Reducing only"
    HALTED = "halted", "Halted"


class Scope(models.TextChoices):
    GLOBAL = "global", "Global"
    ACCOUNT = "account", "Account"
    INSTRUMENT = "instrument", "Instrument"


class TradingState(models.Model):
    """The kill switch: a trading state for the firm, one account or one instrument.
    No row means active."""

    scope = models.CharField(max_length=16, choices=Scope.choices)
    account = models.ForeignKey("accounts.TradingAccount", null=True, blank=True, on_delete=models.CASCADE)
    instrument = models.ForeignKey("instruments.Instrument", null=True, blank=True, on_delete=models.CASCADE)
    state = models.CharField(max_length=16, choices=TradingStateValue.choices)
    reason = models.TextField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "risk_tradingstate"
        constraints = [
            models.UniqueConstraint(
                fields=("scope", "account", "instrument"), name="trading_state_one_per_target", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=Q(scope="global", account__isnull=True, instrument__isnull=True)
                | Q(scope="account", account__isnull=False, instrument__isnull=True)
                | Q(scope="instrument", account__isnull=True, instrument__isnull=False),
                name="trading_state_scope_matches_target",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="trading_state_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.account_id or self.instrument_id or ''} {self.state}"


class RestrictedInstrument(models.Model):
    """An instrument restricted firm-wide (no account) or for one account."""

    instrument = models.ForeignKey("instruments.Instrument", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("accounts.TradingAccount", null=True, blank=True, on_delete=models.CASCADE)
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "risk_restrictedinstrument"
        constraints = [
            models.UniqueConstraint(
                fields=("instrument", "account"), name="restricted_once_per_target", nulls_distinct=False
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="restricted_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} restricted for {self.account_id or 'firm'}"


class RiskLimits(models.Model):
    """Per-account limits; the row without an account holds the firm defaults. An empty field
    in an account's row falls back to the firm default; an empty firm default fails closed."""

    account = models.OneToOneField(
        "accounts.TradingAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_limits"
    )
    max_order_quantity = AmountField(null=True, blank=True)
    max_order_notional = AmountField(null=True, blank=True)
    max_position_quantity = AmountField(null=True, blank=True)
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    max_daily_notional = AmountField(null=True, blank=True)
    max_orders_per_second = models.PositiveIntegerField(null=True, blank=True)
    price_collar_percent = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    max_price_age_seconds = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "risk_limits"
        verbose_name_plural = "risk limits"
        constraints = [
            models.UniqueConstraint(fields=("account",), name="risk_limits_one_per_account", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"limits for {self.account_id or 'the firm'}"


LIMIT_FIELDS = (
    "max_order_quantity",
    "max_order_notional",
    "max_position_quantity",
    "max_open_orders",
    "max_daily_notional",
    "max_orders_per_second",
    "price_collar_percent",
    "max_price_age_seconds",
)
