from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsersConfig(AppConfig):
    name = "apps.users"
    label = "users"

    def ready(self) -> None:
        from apps.users import tokens
        from apps.users.roles import sync_after_migrate

        post_migrate.connect(sync_after_migrate, dispatch_uid="users.role_permissions_sync")
        tokens.connect()  # a password change or deactivation revokes the user's refresh tokens
