"""The ledger in the admin: read-only for everyone (superusers included), searchable on
indexed columns only, no N+1."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, int_or_none
from apps.ledger.models import Asset, Hold, JournalEntry, JournalTransaction, LedgerAccount


def _trading_account_ids(term: str) -> list[int]:
    from apps.accounts.models import TradingAccount

    return list(TradingAccount.objects.filter(number=term).values_list("pk", flat=True))


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "scale", "name")
    list_filter = ("kind",)
    search_fields = ("code", "name")


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "trading_account", "purpose", "asset", "balance", "version", "allow_negative")
    list_filter = ("purpose", "asset__kind")
    search_fields = ("asset__code",)  # see get_search_results
    search_help_text = "A trading account number or an asset code (exact)."
    list_select_related = ("trading_account", "asset")
    readonly_fields = [f.name for f in LedgerAccount._meta.fields]
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        assets = list(Asset.objects.filter(code=term.upper()).values_list("pk", flat=True))
        return queryset.filter(Q(trading_account_id__in=_trading_account_ids(term)) | Q(asset_id__in=assets)), False


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
    search_fields = ("reference",)  # see get_search_results
    search_help_text = "A transaction id, an idempotency key or a reference (exact)."
    date_hierarchy = "posted_at"
    ordering = ("-id",)
    list_select_related = ("actor", "reverses", "numbering")
    readonly_fields = [f.name for f in JournalTransaction._meta.fields]
    inlines = [EntryInline]
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(idempotency_key=term) | Q(reference=term)
        if (pk := int_or_none(term)) is not None:
            query |= Q(pk=pk)
        return queryset.filter(query), False

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
    search_fields = ("transaction__id",)  # see get_search_results
    search_help_text = "A transaction id or a trading account number (exact)."
    list_select_related = ("transaction", "ledger_account__trading_account", "ledger_account__asset", "asset")
    readonly_fields = [f.name for f in JournalEntry._meta.fields]
    ordering = ("-id",)
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        ledger_accounts = list(
            LedgerAccount.objects.filter(trading_account_id__in=_trading_account_ids(term)).values_list("pk", flat=True)
        )
        query = Q(ledger_account_id__in=ledger_accounts)
        if (pk := int_or_none(term)) is not None:
            query |= Q(transaction_id=pk)
        return queryset.filter(query), False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "reserved_account", "amount", "remaining", "captured", "status", "reference", "created_at")
    list_filter = ("status",)
    search_fields = ("reference__exact",)
    list_select_related = ("reserved_account__trading_account", "reserved_account__asset")
    readonly_fields = [f.name for f in Hold._meta.fields]
