"""The user model. Custom from day one so that it can grow without a painful swap."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person (client or staff) or the named system actor. Users are deactivated, never deleted."""

    class Meta:
        db_table = "users_user"
        verbose_name = "user"
        verbose_name_plural = "users"
