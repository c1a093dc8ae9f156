"""The named system actor: changes made by tasks, commands and the system itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model

if TYPE_CHECKING:
    from apps.users.models import User


def system_actor() -> User:
    """The system user (created by a migration; inactive, cannot log in)."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System"},
    )
    return user
