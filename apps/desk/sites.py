"""The back office's admin site: Django's, with the compliance desk on the index page for the
staff who work it (the compliance role, and superusers). Everyone else gets the plain index."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django.template.response import TemplateResponse

from apps.desk.selectors import desk_get, desk_visible_to
from apps.users.forms import GuardedAdminAuthenticationForm

DESK_TEMPLATE = "admin/desk/index.html"


class BackOfficeAdminSite(AdminSite):
    login_form = GuardedAdminAuthenticationForm  # the API's log-in throttle and lockout (apps/users/login_guard.py)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        if not desk_visible_to(request.user):
            return super().index(request, extra_context)
        response = super().index(request, {**(extra_context or {}), "desk": desk_get()})
        response.template_name = DESK_TEMPLATE
        return response
