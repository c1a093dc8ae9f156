"""The user model. Custom from day one so that it can grow without a painful swap."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person (client or staff) or the named system actor. Users are deactivated, never deleted."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        db_table = "users_user"
