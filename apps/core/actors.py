"""The named system actor: changes made by tasks, commands and the system itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_migrate
from django.dispatch import receiver

if TYPE_CHECKING:
    from apps.users.models import User

_cached: dict[str, Any] = {}


def system_actor() -> User:
    """The system user (created by a migration; inactive, cannot log in). Looked up once per
    process: the row is never deleted (users are deactivated, not deleted)."""
    user = _cached.get("user")
    if user is None:
        user, _ = get_user_model().objects.get_or_create(
            username=settings.SYSTEM_USERNAME,
            defaults={"is_active": False, "first_name": "System"},
        )
        _cached["user"] = user
    return user


@receiver(post_migrate, dispatch_uid="core-forget-system-actor")
def _forget(**kwargs: Any) -> None:
    """``migrate`` and ``flush`` (tests) may recreate the row: look it up again."""
    _cached.clear()
