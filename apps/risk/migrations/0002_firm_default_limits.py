"""The firm's default limits, so that a fresh installation trades within sane bounds."""

from django.db import migrations

from apps.risk.defaults import FIRM_DEFAULT_LIMITS as DEFAULTS  # constant data only


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    RiskLimits = apps.get_model("risk", "RiskLimits")
    if not RiskLimits.objects.filter(account__isnull=True).exists():
        RiskLimits.objects.create(account=None, **DEFAULTS)


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
