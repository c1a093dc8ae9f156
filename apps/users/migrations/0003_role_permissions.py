"""The role groups' permissions (defined in ``apps/users/roles.py``): compliance reads
everything and changes trading states, the restricted list and risk limits; operations reads
everything operational and changes instruments and reference prices."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from apps.users.roles import role_permissions_sync

    # Permissions are normally created after all migrations ran (post_migrate): create them now.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, apps=apps)
    role_permissions_sync(apps)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=("operations", "compliance")):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_roles_and_system_actor"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0003_account_number_sequence"),
        ("instruments", "0002_initial"),
        ("ledger", "0007_chain_hashes"),
        ("risk", "0002_firm_default_limits"),
        ("orders", "0003_event_chain"),
        ("brokers", "0003_enum_checks"),
        ("compliance", "0003_auditlog_append_only"),
        ("auditlog", "0017_add_actor_email"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
