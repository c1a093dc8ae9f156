"""The ledger in the admin: read-only, searchable, no N+1."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from apps.ledger.models import Asset, Hold, JournalEntry, JournalTransaction, LedgerAccount


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "scale", "name")
    list_filter = ("kind",)
    search_fields = ("code", "name")


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "trading_account", "purpose", "asset", "balance", "version", "allow_negative")
    list_filter = ("purpose", "asset__kind")
    search_fields = ("trading_account__number", "trading_account__name", "asset__code")
    list_select_related = ("trading_account", "asset")
    readonly_fields = [f.name for f in LedgerAccount._meta.fields]


class EntryInline(ReadOnlyInline):
    model = JournalEntry
    fields = ("ledger_account", "asset", "amount", "account_version", "balance_after")
    readonly_fields = fields

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return (
            super()
            .get_queryset(request)
            .select_related("ledger_account__asset", "ledger_account__trading_account", "asset")
        )


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "number", "kind", "posted_at", "reference", "memo", "actor", "reverses")
    list_filter = ("kind",)
    search_fields = ("=idempotency_key", "reference", "memo", "=correlation_id")
    date_hierarchy = "posted_at"
    list_select_related = ("actor", "reverses", "numbering")
    readonly_fields = [f.name for f in JournalTransaction._meta.fields]
    inlines = [EntryInline]
    show_full_result_count = False

    @admin.display(description="sequence", ordering="numbering__sequence")
    def number(self, obj: JournalTransaction) -> int | None:
        numbering = getattr(obj, "numbering", None)
        return numbering.sequence if numbering is not None else None


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "transaction",
        "ledger_account",
        "asset",
        "amount",
        "account_version",
        "balance_after",
        "posted_at",
    )
    list_filter = ("asset",)
    search_fields = ("ledger_account__trading_account__number",)
    list_select_related = ("transaction", "ledger_account__trading_account", "ledger_account__asset", "asset")
    readonly_fields = [f.name for f in JournalEntry._meta.fields]
    show_full_result_count = False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "reserved_account", "amount", "remaining", "captured", "status", "reference", "created_at")
    list_filter = ("status",)
    search_fields = ("reference",)
    list_select_related = ("reserved_account__trading_account", "reserved_account__asset")
    readonly_fields = [f.name for f in Hold._meta.fields]
