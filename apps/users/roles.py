"""The staff roles. Each is a Django group created by a migration."""

OPERATIONS = "operations"
COMPLIANCE = "compliance"
ROLES = (OPERATIONS, COMPLIANCE)


def roles_ensure() -> None:
    """Create the role groups if missing (a migration does this; tests that flush call it)."""
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)
