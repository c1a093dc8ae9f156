"""Admin building blocks shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


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
