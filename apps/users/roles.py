"""The staff roles and what each may do in the admin. Each role is a Django group.

The permissions of each group are defined here, once, and applied by a data migration
(``users/0003_role_permissions``), after every ``migrate`` (``post_migrate``, so models added
later get their view permission), and by ``roles_ensure()`` (tests that flush the database).
The list is authoritative: a permission granted to a role group by hand is removed at the next
sync. Ledger rows, order events, fills and audit records have no change or delete permission
for anyone: their admins are read-only (``apps.core.admin.ReadOnlyAdmin``), superusers included.
"""

from __future__ import annotations

from typing import Any

OPERATIONS = "operations"
COMPLIANCE = "compliance"
ROLES = (OPERATIONS, COMPLIANCE)

# Every ``view_*`` permission of these apps.
ROLE_VIEW_APPS: dict[str, tuple[str, ...]] = {
    COMPLIANCE: (
        "accounts",
        "instruments",
        "ledger",
        "risk",
        "orders",
        "brokers",
        "compliance",
        "users",
        "auth",
        "auditlog",
        "reports",
    ),
    OPERATIONS: ("accounts", "instruments", "ledger", "risk", "orders", "brokers", "reports"),
}

# And exactly these write permissions (app label, codename).
ROLE_WRITE_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    COMPLIANCE: (
        ("risk", "add_tradingstate"),
        ("risk", "change_tradingstate"),
        ("risk", "add_restrictedinstrument"),
        ("risk", "delete_restrictedinstrument"),
        ("risk", "add_risklimits"),
        ("risk", "change_risklimits"),
        ("compliance", "review_exception"),  # record reviews in the exception queues
        ("compliance", "change_compliancealert"),  # acknowledge compliance alerts
        ("compliance", "run_reconciliation"),  # run the reconciliation (books and brokers) from the admin
        ("brokers", "replay_report"),  # replay a dead-lettered execution report from its queue
        ("reports", "run_report"),  # run and re-run reports from the admin
        ("reports", "add_reportrecipient"),  # who receives each report kind
        ("reports", "change_reportrecipient"),
    ),
    OPERATIONS: (
        ("instruments", "change_instrument"),
        ("instruments", "add_referenceprice"),
        ("instruments", "change_referenceprice"),
        ("brokers", "pause_broker"),  # pause and resume a broker route
        ("brokers", "close_dead_order"),  # close an order whose submit died, once the venue confirms
        ("reports", "run_report"),
    ),
}


def role_permissions_sync(apps: Any = None) -> None:
    """Create the role groups if missing and give each exactly its permissions.
    ``apps`` is a migration's app registry (historical models), or None for the live models."""
    from django.db.models import Q

    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = Q(content_type__app_label__in=ROLE_VIEW_APPS[role], codename__startswith="view_")
        for app_label, codename in ROLE_WRITE_PERMISSIONS[role]:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        ids = set(permission_model.objects.filter(wanted).values_list("pk", flat=True))
        have = set(group.permissions.values_list("pk", flat=True))
        if ids != have:
            group.permissions.set(sorted(ids))


def roles_ensure() -> None:
    """Create the role groups and their permissions if missing (a migration does this; tests
    that flush the database call it)."""
    role_permissions_sync()


def sync_after_migrate(sender: Any, apps: Any = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: runs once per ``migrate`` (or flush), after the last app's
    permissions were created, so the role groups follow new models."""
    from django.apps import apps as live_apps

    with_models = [config for config in live_apps.get_app_configs() if config.models_module is not None]
    if not with_models or sender.label != with_models[-1].label:
        return
    try:
        role_permissions_sync(apps)
    except LookupError:  # a partial migration state without auth
        return
