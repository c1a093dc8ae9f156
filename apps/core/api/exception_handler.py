"""RFC 9457 problem details for every API error. No stack trace or SQL reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)
PROBLEM_BASE = "https://backoffice.example/problems/"


def _problem(status_code: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status_code, "detail": detail, "code": code, **extra}
    return Response(body, status=status_code, content_type="application/problem+json")


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return _problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return _problem(
            status.HTTP_400_BAD_REQUEST,
            "invalid",
            "Invalid input",
            "The request has invalid fields.",
            errors=exc.detail,
        )
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response = _problem(exc.status_code, code, str(exc.default_detail), str(exc.detail))
        for header in ("WWW-Authenticate", "Retry-After"):
            value = getattr(exc, "auth_header", None) if header == "WWW-Authenticate" else getattr(exc, "wait", None)
            if value:
                response[header] = str(value)
        return response
    logger.exception("unhandled API error", exc_info=exc)
    return _problem(500, "server_error", "Internal error", "An internal error occurred; it has been logged.")
