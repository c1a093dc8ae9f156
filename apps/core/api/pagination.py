"""Cursor (keyset) pagination: ``{next, previous, results}``; a page costs the same at any depth."""

from __future__ import annotations

import base64
from typing import Any
from urllib import parse

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from apps.core.errors import ValidationError
from apps.core.ids import MAX_ID


class IdCursorPagination(CursorPagination):
    """Newest first, by primary key. A malformed cursor or ``limit`` answers 400 (not DRF's 404
    for a bad cursor, nor a silently ignored limit)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        text = request.query_params.get(self.page_size_query_param or "limit")
        if text is None:
            return self.page_size
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= self.max_page_size:
            raise ValidationError(
                f"limit must be an integer from 1 to {self.max_page_size}.", code="invalid_limit", field="limit"
            )
        return int(text)

    def decode_cursor(self, request: Request) -> Cursor | None:
        invalid = ValidationError("The cursor is not valid.", code="invalid_cursor", field="cursor")
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None:  # only cursors this API wrote: strict base64 of o/r/p tokens
            try:
                text = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
                tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
            except (ValueError, UnicodeError):
                raise invalid from None
            if set(tokens) - {"o", "r", "p"}:
                raise invalid
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        if cursor is None or cursor.position is None:
            return cursor
        position = str(cursor.position)  # text on the wire (the stubs say int)
        if "\x00" in position:  # PostgreSQL text cannot hold NUL
            raise invalid
        keyed_by_id = self.ordering[0].lstrip("-") in ("id", "pk")  # the keyset is a 64-bit integer
        if keyed_by_id and not (position.isascii() and position.isdigit() and 0 < int(position) <= MAX_ID):
            raise invalid
        return cursor

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = f"Results per page (1-{self.max_page_size}, default {self.page_size})."
        return parameters


class OldestFirstPagination(IdCursorPagination):
    ordering = "id"


class SymbolPagination(IdCursorPagination):
    ordering = "symbol"
