"""RFC 9457 problem details for every API error. No stack trace or SQL reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)
PROBLEM_BASE = "https://backoffice.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(status_code: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": PROBLEM_BASE + code, "title": title, "status": status_code, "detail": detail, "code": code, **extra}


def _problem(status_code: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = problem_body(status_code, code, title, detail, **extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _detail_and_code(exc: exceptions.APIException) -> tuple[str, str]:
    detail: Any = exc.detail
    codes: Any = exc.get_codes()
    if isinstance(detail, dict):  # e.g. simplejwt's InvalidToken: {"detail": ..., "code": ...}
        code = detail.get("code") or (codes.get("code") if isinstance(codes, dict) else None)
        return str(detail.get("detail", exc.default_detail)), str(code or exc.default_code)
    if isinstance(detail, list):
        return "; ".join(str(d) for d in detail), str(exc.default_code)
    return str(detail), str(codes if isinstance(codes, str) else exc.default_code)


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
            "The request has invalid fields; see errors.",
            errors=exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail},
        )
    if isinstance(exc, exceptions.APIException):
        detail, code = _detail_and_code(exc)
        response = _problem(exc.status_code, code, str(exc.default_detail), detail)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            response["WWW-Authenticate"] = str(auth_header)
        wait = getattr(exc, "wait", None)
        if wait:
            response["Retry-After"] = str(int(wait) + 1)
        return response
    logger.exception("unhandled API error", exc_info=exc)
    return _problem(500, "server_error", "Internal error", "An internal error occurred; it has been logged.")


def _json_problem(request: HttpRequest, status_code: int, code: str, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem_body(status_code, code, title, detail), status=status_code, content_type=PROBLEM_CONTENT_TYPE
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Unknown URLs: problem details under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return _json_problem(request, 404, "not_found", "Not found", "No such resource.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _json_problem(
            request, 500, "server_error", "Internal error", "An internal error occurred; it has been logged."
        )
    from django.views.defaults import server_error as default

    return default(request)
