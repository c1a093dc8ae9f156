from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.instruments.models import Instrument, ReferencePrice


class ReferencePriceInline(admin.StackedInline):
    model = ReferencePrice
    extra = 0
    can_delete = False


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ("symbol", "name", "asset_class", "currency", "tick_size", "lot_size", "active")
    list_filter = ("asset_class", "currency", "active")
    search_fields = ("symbol", "name")
    readonly_fields = ("symbol", "currency", "tick_size", "lot_size", "asset", "created_at", "updated_at")
    inlines = [ReferencePriceInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the service, which also creates the ledger asset

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
