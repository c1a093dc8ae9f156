"""The trading account and its direct-foreign-key object permissions (django-guardian)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class AccountStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESTRICTED = "restricted", "Restricted"
    CLOSED = "closed", "Closed"


class TradingAccount(models.Model):
    """A client's brokerage account. Its cash and positions live in the ledger."""

    number = models.CharField(max_length=16, unique=True, editable=False)
    name = models.CharField(max_length=128)
    base_currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.OPEN)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="trading_accounts", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "accounts_tradingaccount"
        ordering = ("id",)
        permissions = [("trade_tradingaccount", "Can trade on the trading account")]
        constraints = [
            models.CheckConstraint(condition=Q(base_currency__regex=r"^[A-Z]{3}$"), name="account_base_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class TradingAccountUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(TradingAccount, on_delete=models.CASCADE)


class TradingAccountGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(TradingAccount, on_delete=models.CASCADE)
