"""Compliance alerts in the admin: read-only, newest first, filterable."""

from django.contrib import admin

from apps.compliance.models import ComplianceAlert
from apps.core.admin import ReadOnlyAdmin


@admin.register(ComplianceAlert)
class ComplianceAlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "raised_at", "severity", "kind", "summary", "acknowledged_by", "acknowledged_at")
    list_filter = ("severity", "kind", ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("summary",)
    date_hierarchy = "raised_at"
    list_select_related = ("acknowledged_by",)
    readonly_fields = [f.name for f in ComplianceAlert._meta.fields]
