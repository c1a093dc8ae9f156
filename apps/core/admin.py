"""Admin building blocks shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.core.exceptions import ImproperlyConfigured
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


class ServiceAdmin(admin.ModelAdmin):
    """For a model written by a service: the admin is another door to the same service.

    Subclasses implement ``save_model`` (and ``delete_model`` / ``delete_queryset`` when they
    allow deleting, ``save_formset`` for an inline of such a model) by calling the service; the
    defaults here refuse rather than save the row behind the service's back
    (``tests/core/test_admin_writes.py`` holds every admin of a model with a service to this).

    Django runs the POST of its add/change and delete pages in one transaction of its own; the
    write services are outermost (``atomic(durable=True)``) transactions, which cannot nest, so
    these pages run without it: each service commits on its own, Django's history row follows.
    A service refusal (``ApplicationError``) while saving is shown as an error on the form,
    re-rendered with what was typed (nothing was written by the refused service), never a 500.
    Forms should still check what they can in ``clean`` with the service's own validation, so
    the usual refusal is shown on its field before anything is saved.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        raise ImproperlyConfigured(f"{type(self).__name__} must save {obj._meta.label} through its service.")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        raise ImproperlyConfigured(f"{type(self).__name__} must delete {obj._meta.label} through its service.")

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset.order_by("pk"):
            self.delete_model(request, obj)

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        view = self._changeform_view  # type: ignore[attr-defined]
        try:
            return view(request, object_id, form_url, extra_context)
        except ApplicationError as refusal:
            if request.method != "POST":
                raise
            request._service_refusal = refusal  # type: ignore[attr-defined]
            return view(request, object_id, form_url, extra_context)

    @csrf_protect_m
    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        try:
            return self._delete_view(request, object_id, extra_context)  # type: ignore[attr-defined]
        except ApplicationError as refusal:
            self.message_user(request, refusal.detail, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        found: ApplicationError | None = getattr(request, "_service_refusal", None)
        if found is None:
            return form_class
        refusal = found

        class Refused(form_class):  # type: ignore[valid-type,misc]
            def clean(self) -> Any:
                data = super().clean()
                field = refusal.extra.get("field")
                self.add_error(field if field in self.fields else None, refusal.detail)
                return data

        return Refused


def service_errors(form: forms.BaseForm, check: Callable[[], object], *, fields: dict[str, str] | None = None) -> None:
    """Run a service's validation ``check`` in a form's ``clean``: its refusal becomes a form
    error, on the field it names (``fields`` maps a service field name to the form's) or on the
    whole form."""
    try:
        check()
    except ApplicationError as exc:
        name = str(exc.extra.get("field") or "")
        name = (fields or {}).get(name, name)
        form.add_error(name if name in form.fields else None, exc.detail)


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
