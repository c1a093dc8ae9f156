"""Risk controls in the admin (the full compliance workflow comes with the compliance issue)."""

from django.contrib import admin

from apps.risk.models import RestrictedInstrument, RiskLimits, TradingState


@admin.register(TradingState)
class TradingStateAdmin(admin.ModelAdmin):
    list_display = ("scope", "account", "instrument", "state", "reason", "updated_by", "updated_at")
    list_filter = ("scope", "state")
    list_select_related = ("account", "instrument", "updated_by")
    readonly_fields = ("updated_by", "updated_at")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from django.utils import timezone

        obj.updated_by = request.user
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(RestrictedInstrument)
class RestrictedInstrumentAdmin(admin.ModelAdmin):
    list_display = ("instrument", "account", "reason", "created_by", "created_at")
    list_select_related = ("instrument", "account", "created_by")
    readonly_fields = ("created_by", "created_at")
    search_fields = ("instrument__symbol", "account__number")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from django.utils import timezone

        obj.created_by = request.user
        obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(RiskLimits)
class RiskLimitsAdmin(admin.ModelAdmin):
    list_display = (
        "account",
        "max_order_quantity",
        "max_order_notional",
        "max_open_orders",
        "max_orders_per_second",
        "price_collar_percent",
    )
    list_select_related = ("account",)
