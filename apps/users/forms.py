"""The admin's log-in form: Django's, behind the log-in policy the API's token view follows
(apps/users/login_guard.py): the per-address throttle, the per-name lockout (one counter for
both doors) and its ``locked_out`` security event. Failed and successful log-ins are recorded
through Django's ``user_login_failed`` / ``user_logged_in`` signals, as before."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apps.users import login_guard


class GuardedAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "login_locked": (
            "Too many failed log-ins for this user name: it is locked for up to %(minutes)s minutes. Try again later."
        ),
        "throttled": "Too many log-in attempts from your address. Try again in %(seconds)s seconds.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        wait = login_guard.address_throttle_wait(self.request)
        if wait is not None:
            raise ValidationError(self.error_messages["throttled"], code="throttled", params={"seconds": wait})
        try:
            login_guard.admit(request=self.request, username=username)
        except login_guard.LoginLocked as locked:
            raise ValidationError(
                self.error_messages["login_locked"],
                code="login_locked",
                params={"minutes": max(1, -(-locked.wait // 60))},
            ) from None
        try:
            cleaned = super().clean()
        except ValidationError:
            if username and self.user_cache is None:  # the credentials failed (not: a non-staff user)
                login_guard.failure_record(username)
            raise
        if self.user_cache is not None:
            login_guard.failures_clear(username)
        return cleaned
