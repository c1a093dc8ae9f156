"""Orders in the admin: read-only, with the timeline and fills inline."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from apps.orders.models import Fill, Order, OrderEvent, Position


class EventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("at", "kind", "status_after", "initiator", "actor", "broker_at", "source_ip", "data")
    readonly_fields = fields
    ordering = ("id",)


class FillInline(ReadOnlyInline):
    model = Fill
    fields = ("exec_id", "quantity", "price", "fee", "executed_at", "transaction", "late")
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "instrument",
        "side",
        "type",
        "quantity",
        "limit_price",
        "status",
        "filled_quantity",
        "reject_reason",
        "needs_review",
        "created_at",
    )
    list_filter = ("status", "side", "type", "time_in_force", "needs_review", "reject_reason")
    search_fields = ("=id", "=client_order_id", "account__number", "instrument__symbol", "=broker_order_id")
    list_select_related = ("account", "instrument")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Order._meta.fields]
    inlines = [EventInline, FillInline]
    show_full_result_count = False


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("exec_id", "order", "broker", "quantity", "price", "fee", "executed_at", "late")
    list_filter = ("broker", "late")
    search_fields = ("=exec_id", "=order__id")
    list_select_related = ("order",)
    readonly_fields = [f.name for f in Fill._meta.fields]
    show_full_result_count = False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("account", "instrument", "quantity", "cost_basis", "realized_pnl", "updated_at")
    search_fields = ("account__number", "instrument__symbol")
    list_select_related = ("account", "instrument")
    readonly_fields = [f.name for f in Position._meta.fields]
