"""Cursor (keyset) pagination: ``{next, previous, results}``; a page costs the same at any depth."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first, by primary key."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class OldestFirstPagination(IdCursorPagination):
    ordering = "id"


class SymbolPagination(IdCursorPagination):
    ordering = "symbol"
