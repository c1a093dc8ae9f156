"""The paper venue's book in the admin: read-only (the venue changes only through its adapter)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from plugins.paper.models import PaperOrder, PaperReport, PaperWalkState


class PaperReportInline(ReadOnlyInline):
    model = PaperReport
    fields = ("exec_id", "exec_type", "last_quantity", "last_price", "fee", "cumulative_quantity", "leaves_quantity")
    readonly_fields = fields


@admin.register(PaperOrder)
class PaperOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_id",
        "account_number",
        "symbol",
        "side",
        "order_type",
        "time_in_force",
        "quantity",
        "cumulative_quantity",
        "status",
        "updated_at",
    )
    list_filter = ("status", "order_type", "time_in_force", "side")
    search_fields = ("=order_id", "=broker_order_id", "account_number", "symbol")
    readonly_fields = [f.name for f in PaperOrder._meta.fields]
    inlines = [PaperReportInline]


@admin.register(PaperReport)
class PaperReportAdmin(ReadOnlyAdmin):
    list_display = ("exec_id", "order_id", "exec_type", "last_quantity", "last_price", "fee", "broker_time")
    list_filter = ("exec_type",)
    search_fields = ("=exec_id", "=order_id")
    readonly_fields = [f.name for f in PaperReport._meta.fields]


@admin.register(PaperWalkState)
class PaperWalkStateAdmin(ReadOnlyAdmin):
    list_display = ("seed", "step")
    readonly_fields = ("seed", "step")
