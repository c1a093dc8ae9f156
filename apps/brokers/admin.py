"""The pipeline in the admin: the outbox and the execution reports (dead letters included)."""

from django.contrib import admin

from apps.brokers.models import AccountRoute, ExecutionReportRecord, OrderInstruction
from apps.core.admin import ReadOnlyAdmin


@admin.register(OrderInstruction)
class OrderInstructionAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "broker", "action", "status", "attempts", "available_at", "last_error")
    list_filter = ("status", "action", "broker")
    search_fields = ("=order__id",)
    list_select_related = ("order",)
    readonly_fields = [f.name for f in OrderInstruction._meta.fields]
    show_full_result_count = False


@admin.register(ExecutionReportRecord)
class ExecutionReportAdmin(ReadOnlyAdmin):
    list_display = ("broker", "exec_id", "order_id", "exec_type", "status", "error", "received_at")
    list_filter = ("status", "broker", "exec_type")
    search_fields = ("=exec_id", "=order_id")
    readonly_fields = [f.name for f in ExecutionReportRecord._meta.fields]
    show_full_result_count = False


@admin.register(AccountRoute)
class AccountRouteAdmin(admin.ModelAdmin):
    list_display = ("account", "broker")
    list_select_related = ("account",)
