"""Trading accounts in the admin. Accounts are opened through the service (which opens
their ledger accounts), so the admin does not add them; balances are shown read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from apps.accounts.models import TradingAccount
from apps.ledger.models import LedgerAccount


class LedgerAccountInline(admin.TabularInline):
    model = LedgerAccount
    fields = ("purpose", "asset", "balance", "version")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TradingAccount)
class TradingAccountAdmin(GuardedModelAdmin):
    list_display = ("number", "name", "base_currency", "status", "created_at")
    list_filter = ("status", "base_currency")
    search_fields = ("number", "name", "owners__username")
    readonly_fields = ("number", "base_currency", "created_at", "updated_at")
    fields = ("number", "name", "base_currency", "status", "owners", "created_at", "updated_at")
    filter_horizontal = ("owners",)
    inlines = [LedgerAccountInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
