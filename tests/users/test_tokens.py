"""Refresh tokens rotate (the one presented is blacklisted), and a password change or a
deactivation blacklists all of a user's refresh tokens. Access tokens live on until they expire."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from apps.compliance.models import SecurityEvent
from apps.users.tokens import refresh_tokens_revoke
from tests.users.conftest import api_login

pytestmark = pytest.mark.django_db


def refresh(token: str) -> Any:
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def test_a_refresh_rotates_and_the_old_token_is_refused(staff):
    first = api_login("door-staff").json()["refresh"]
    renewed = refresh(first)
    assert renewed.status_code == 200 and set(renewed.json()) == {"access", "refresh"}
    second = renewed.json()["refresh"]
    assert second != first
    reused = refresh(first)
    assert (reused.status_code, reused.json()["code"]) == (401, "token_not_valid")
    assert refresh(second).status_code == 200
    kinds = SecurityEvent.objects.filter(username="door-staff").values_list("kind", flat=True).order_by("id")
    assert list(kinds) == ["token_issued", "token_refreshed", "token_refreshed"]


def test_a_password_change_revokes_the_refresh_tokens_not_the_access_tokens(staff):
    tokens = api_login("door-staff").json()
    other = api_login("door-staff").json()["refresh"]  # a second log-in (last_login saved) revokes nothing
    assert refresh(other).status_code == 200
    staff.set_password("another long passphrase")
    staff.save()
    assert refresh(tokens["refresh"]).status_code == 401
    assert BlacklistedToken.objects.filter(token__user=staff).count() == 3  # both, and the rotated one
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/v1/accounts/").status_code == 200  # valid until it expires (JWT_ACCESS_MINUTES)
    assert refresh(api_login("door-staff", "another long passphrase").json()["refresh"]).status_code == 200


def test_deactivation_revokes_the_refresh_tokens_for_good(staff):
    token = api_login("door-staff").json()["refresh"]
    staff.is_active = False
    staff.save()
    staff.is_active = True  # reactivated: the old tokens stay revoked
    staff.save()
    assert refresh(token).status_code == 401
    assert refresh_tokens_revoke(user=staff) == 0  # nothing left to revoke
