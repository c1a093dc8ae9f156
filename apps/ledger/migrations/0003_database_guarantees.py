"""Guarantees Django cannot declare: each entry's asset is its account's (composite foreign
key), the sequence counter row, and the common currencies."""

from django.db import migrations

from apps.ledger.currencies import CURRENCIES  # constant data only


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Asset = apps.get_model("ledger", "Asset")
    LedgerSequence = apps.get_model("ledger", "LedgerSequence")
    for code, name, scale in CURRENCIES:
        Asset.objects.get_or_create(code=code, defaults={"kind": "currency", "name": name, "scale": scale})
    LedgerSequence.objects.get_or_create(id=1, defaults={"last_value": 0})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_initial")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE ledger_journalentry ADD CONSTRAINT ledger_entry_asset_is_account_asset "
            "FOREIGN KEY (ledger_account_id, asset_id) REFERENCES ledger_ledgeraccount (id, asset_id) "
            "DEFERRABLE INITIALLY DEFERRED",
            "ALTER TABLE ledger_journalentry DROP CONSTRAINT ledger_entry_asset_is_account_asset",
        ),
        migrations.RunSQL(
            "ALTER TABLE ledger_sequence ADD CONSTRAINT ledger_sequence_single_row CHECK (id = 1)",
            "ALTER TABLE ledger_sequence DROP CONSTRAINT ledger_sequence_single_row",
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
