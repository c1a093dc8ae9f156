"""Instruments in the admin: the editable fields and the reference price inline go through the
services (``instrument_update``, ``reference_price_set``); instruments are created by
``instrument_create`` (API, commands), never here. Operations may change them (the role the
API asks for prices: ``apps.accounts.permissions.has_role``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from apps.accounts.permissions import RoleAdminMixin
from apps.core.admin import ServiceAdmin, int_or_none, service_errors
from apps.instruments.models import Instrument, ReferencePrice
from apps.instruments.services import instrument_update, reference_price_check, reference_price_set
from apps.risk.admin import kill_switch_context
from apps.users.roles import OPERATIONS


class ReferencePriceFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if not form.has_changed() or not getattr(form, "cleaned_data", None):
                continue
            data: dict[str, Any] = form.cleaned_data

            def check(data: dict[str, Any] = data) -> object:
                return reference_price_check(instrument=self.instance, price=data.get("price"), as_of=data.get("as_of"))

            service_errors(form, check)


class ReferencePriceInline(RoleAdminMixin, admin.StackedInline):
    model = ReferencePrice
    formset = ReferencePriceFormSet
    fields = ("price", "as_of", "source")
    extra = 0
    can_delete = False
    add_roles = change_roles = (OPERATIONS,)


@admin.register(Instrument)
class InstrumentAdmin(RoleAdminMixin, ServiceAdmin):
    change_form_template = "admin/instruments/instrument/change_form.html"
    list_display = ("symbol", "name", "asset_class", "currency", "tick_size", "lot_size", "active")
    list_filter = ("asset_class", "currency", "active")
    search_fields = ("symbol", "name")
    readonly_fields = ("symbol", "currency", "tick_size", "lot_size", "asset", "created_at", "updated_at")
    inlines = [ReferencePriceInline]
    change_roles = (OPERATIONS,)  # no add (instrument_create also creates the ledger asset), no delete

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not {"name", "asset_class", "active"} & set(form.changed_data):
            return
        instrument_update(
            actor=request.user,  # type: ignore[arg-type]
            instrument=obj,
            name=obj.name,
            asset_class=obj.asset_class,
            active=obj.active,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The reference price goes through its service: the tick-size and time rules, the price
        # history the end-of-day reports read, and the signal that wakes the brokers.
        if formset.model is not ReferencePrice:
            raise TypeError(f"No service for the inline {formset.model._meta.label}.")
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

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = int_or_none(object_id)
        context = (
            {**kill_switch_context(request.user, instrument_id=pk), **(extra_context or {})} if pk else extra_context
        )
        return super().change_view(request, object_id, form_url, extra_context=context)
