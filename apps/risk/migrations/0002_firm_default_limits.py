"""The firm's default limits, so that a fresh installation trades within sane bounds."""

from decimal import Decimal

from django.db import migrations

# The defaults as they were when this migration was written (frozen: the historical model has
# only these fields; later limits get their defaults in later migrations).
DEFAULTS = {
    "max_order_quantity": Decimal("100000"),
    "max_order_notional": Decimal("1000000"),
    "max_position_quantity": Decimal("1000000"),
    "max_open_orders": 1000,
    "max_daily_notional": Decimal("10000000"),
    "max_orders_per_second": 50,
    "price_collar_percent": Decimal("10.00"),
    "max_price_age_seconds": 3600,
}


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    RiskLimits = apps.get_model("risk", "RiskLimits")
    if not RiskLimits.objects.filter(account__isnull=True).exists():
        RiskLimits.objects.create(account=None, **DEFAULTS)


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
