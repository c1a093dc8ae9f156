"""Log-in fixtures: a staff user who can use both doors (the admin's log-in form and the API's
token view), and a clean cache (throttle and failed-log-in counters) for every test."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="door-staff", is_staff=True)


def admin_login(username: str, password: str = PASSWORD, client: Client | None = None, **extra: Any) -> Any:
    """POST the admin's log-in form; a 302 to the index is a log-in, a 200 the form again."""
    client = client or Client()
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"}, **extra)


def api_login(username: str, password: str = PASSWORD, **extra: Any) -> Any:
    body = {"username": username, "password": password}
    return APIClient().post("/api/v1/auth/token/", body, format="json", **extra)


def form_errors(response: Any) -> list[str]:
    return list(response.context["form"].non_field_errors()) if response.context else []
