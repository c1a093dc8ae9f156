"""API refresh tokens of a user revoked when the user's password changes or the user is
deactivated: every outstanding refresh token is blacklisted right after the user row is saved
(in the same transaction when the save runs in one: the admin's, a service's).

Access tokens are not blacklisted (they are checked without a database lookup of the token):
one issued before the change stays valid until it expires, ``JWT_ACCESS_MINUTES`` (5 by
default), except that a deactivated user's access tokens are refused at once (the API checks
``is_active`` on every request)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.users.models import User

_REVOKE = "_refresh_tokens_revoke"


def refresh_tokens_revoke(*, user: Any) -> int:
    """Blacklist every unexpired refresh token of ``user`` not yet blacklisted; the number."""
    outstanding = OutstandingToken.objects
    tokens = outstanding.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in tokens.only("pk")], ignore_conflicts=True
    )
    return len(created)


def _user_changing(sender: Any, instance: User, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    """Before a user row is saved: does the save change the password or deactivate the user?"""
    if raw or instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. the last_login stamp of every log-in
    stored = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    changed = stored["password"] != instance.password or (stored["is_active"] and not instance.is_active)
    setattr(instance, _REVOKE, changed)


def _user_changed(sender: Any, instance: User, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    if getattr(instance, _REVOKE, False):
        setattr(instance, _REVOKE, False)
        refresh_tokens_revoke(user=instance)


def connect() -> None:
    pre_save.connect(_user_changing, sender=User, dispatch_uid="users.refresh_tokens_revoke.pre")
    post_save.connect(_user_changed, sender=User, dispatch_uid="users.refresh_tokens_revoke.post")
