"""Admin building blocks shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from apps.core.errors import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: browse and search, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def fixed_choices_filter(field: str, title: str, choices: Any) -> type[admin.SimpleListFilter]:
    """A list filter whose options are fixed (or computed without touching the table), for a
    column without choices: Django's default would run ``SELECT DISTINCT`` over a table that
    can grow without bound. ``choices`` is a sequence of (value, label) or a callable giving one."""

    class Filter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
            return choices() if callable(choices) else choices

        def queryset(self, request: HttpRequest, queryset: Any) -> Any:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    Filter.title = title
    Filter.__name__ = f"{field.title().replace('_', '')}Filter"
    return Filter


def int_or_none(term: str) -> int | None:
    """A search term as a positive 64-bit integer id, or None."""
    term = term.strip()
    if not term.isdigit() or len(term) > 18:
        return None
    return int(term)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why: kept with the record of who did this and when; it cannot be changed later.",
    )


def reason_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    explanation: str,
    item: object,
    submit_label: str,
    back: str,
    act: Callable[[str], str],
) -> HttpResponse:
    """A confirmation page asking for a required reason; on a valid POST it calls ``act(reason)``
    (a service), shows the message it returns and goes ``back``. A refusal (``ApplicationError``)
    is shown on the page and nothing changes."""
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            message = act(form.cleaned_data["reason"])
        except ApplicationError as exc:
            form.add_error("reason" if getattr(exc, "extra", {}).get("field") == "reason" else None, exc.detail)
        else:
            model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "explanation": explanation,
        "item": item,
        "form": form,
        "submit_label": submit_label,
        "back": back,
        "media": model_admin.media,
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/reason_confirmation.html", context, status=status)
