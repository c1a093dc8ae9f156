"""One exception hierarchy: every domain error carries a stable, documented ``code``."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refused operation. Nothing was written when this is raised from a service."""

    code = "application_error"
    status = 400
    title = "The request was refused"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class ValidationError(ApplicationError):
    """Input that can never succeed as given (bad amount, unknown asset, ...)."""

    code = "invalid"
    status = 400
    title = "Invalid input"


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(ApplicationError):
    """The request conflicts with what already exists (idempotency key reused, ...)."""

    code = "conflict"
    status = 409
    title = "Conflict"


class BusinessRuleViolation(ApplicationError):
    """Well-formed, but the rules refuse it now (insufficient funds, already reversed, ...)."""

    code = "rule_violation"
    status = 422
    title = "Refused by a business rule"


class Forbidden(ApplicationError):
    """Authenticated, allowed to see the object, but not to do this to it."""

    code = "permission_denied"
    status = 403
    title = "Forbidden"
