from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]
    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS accounts_tradingaccount_number_seq START 1000001",
            "DROP SEQUENCE IF EXISTS accounts_tradingaccount_number_seq",
        )
    ]
