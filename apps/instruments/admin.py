from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from apps.core.admin import int_or_none
from apps.instruments.models import Instrument, ReferencePrice
from apps.instruments.services import reference_price_set
from apps.risk.admin import kill_switch_context


class ReferencePriceInline(admin.StackedInline):
    model = ReferencePrice
    extra = 0
    can_delete = False


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    change_form_template = "admin/instruments/instrument/change_form.html"
    list_display = ("symbol", "name", "asset_class", "currency", "tick_size", "lot_size", "active")
    list_filter = ("asset_class", "currency", "active")
    search_fields = ("symbol", "name")
    readonly_fields = ("symbol", "currency", "tick_size", "lot_size", "asset", "created_at", "updated_at")
    inlines = [ReferencePriceInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The reference price goes through its service: the tick-size rule, the price history the
        # end-of-day reports read, and the signal that wakes the brokers.
        if formset.model is not ReferencePrice:
            super().save_formset(request, form, formset, change)
            return
        for inline_form in formset.forms:
            if not inline_form.has_changed() or not inline_form.cleaned_data:
                continue
            data = inline_form.cleaned_data
            reference_price_set(
                actor=request.user,  # type: ignore[arg-type]
                instrument=form.instance,
                price=data["price"],
                as_of=data.get("as_of"),
                source=data.get("source") or "manual",
            )
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the service, which also creates the ledger asset

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = int_or_none(object_id)
        context = (
            {**kill_switch_context(request.user, instrument_id=pk), **(extra_context or {})} if pk else extra_context
        )
        return super().change_view(request, object_id, form_url, extra_context=context)
