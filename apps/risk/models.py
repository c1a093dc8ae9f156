"""Trading states, the restricted list and risk limits."""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
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
    daily_loss_limit = AmountField(
        null=True, blank=True, help_text="A daily loss reaching this amount moves the account to reducing only."
    )
    daily_loss_halt_limit = AmountField(
        null=True, blank=True, help_text="A daily loss reaching this (larger) amount halts the account."
    )
    max_gross_exposure = AmountField(
        null=True,
        blank=True,
        help_text="Firm-wide: the sum of |market value| over every account. Only the firm row's value is used.",
    )
    max_concentration_percent = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="One instrument's market value as a percent of the account's equity.",
    )
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
    "daily_loss_limit",
    "daily_loss_halt_limit",
    "max_gross_exposure",
    "max_concentration_percent",
)

#: Limits only the firm row holds (an account row leaves them empty).
FIRM_ONLY_LIMITS = frozenset({"max_gross_exposure"})


class ExposureSnapshot(models.Model):
    """One account's exposure at one mark-to-market run (``account`` empty: the firm-wide sums).

    Append-only: the database refuses UPDATE and DELETE. One run writes its rows in one
    transaction with one ``taken_at``. Figures are in the account's base currency (no FX: a
    position is valued in its instrument's currency, as the pre-trade limits are)."""

    account = models.ForeignKey(
        "accounts.TradingAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    taken_at = models.DateTimeField()
    currency = models.CharField(max_length=3, blank=True, help_text="The account's base currency (firm row: empty).")
    cash = AmountField(help_text="Available + reserved cash in the base currency.")
    market_value = AmountField(help_text="Sum of the positions' market values at the reference prices.")
    cost_basis = AmountField()
    unrealized_pnl = AmountField()
    realized_pnl = AmountField()
    equity = AmountField(help_text="Cash + market value.")
    gross_exposure = AmountField(help_text="Sum of |market value|.")
    concentration_percent = AmountField(
        null=True, blank=True, help_text="Largest instrument's market value / equity x 100 (empty: no equity)."
    )
    daily_pnl = AmountField(help_text="Total P&L now less total P&L at the last snapshot before the business day.")
    lines = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "risk_exposuresnapshot"
        ordering = ("-taken_at", "-id")
        indexes = [models.Index(fields=("account", "taken_at"), name="exposure_snapshot_account_at")]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"exposure of {self.account_id or 'the firm'} at {self.taken_at.isoformat()}"

    @property
    def total_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl
