"""The staff role groups and the named system actor."""

from django.db import migrations

ROLES = ("operations", "compliance")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("users", "User")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    User.objects.get_or_create(
        username="system", defaults={"is_active": False, "first_name": "System", "password": "!"}
    )


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
