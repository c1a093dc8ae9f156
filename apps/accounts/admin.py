"""Trading accounts in the admin. Accounts are opened through the service (which opens
their ledger accounts), so the admin does not add them; balances are shown read-only. The
name, the status and the owners change through the services (``trading_account_rename``,
``trading_account_set_status``, ``trading_account_owner_add`` / ``_remove``, which also give and
take the owner's grants), for the operations role (as the API's grants: ``has_role``). Other
grants are the API's (``account_access_grant``): the admin has no object-permission pages.

Each account has an overview page (balances, positions, open orders, trading state) and a
statement for a date range, as a page and as CSV. URLs (stable; browser tests rely on them):

- ``/admin/accounts/tradingaccount/<id>/overview/``
- ``/admin/accounts/tradingaccount/<id>/statement/?start=YYYY-MM-DD&end=YYYY-MM-DD``
- ``/admin/accounts/tradingaccount/<id>/statement.csv?start=YYYY-MM-DD&end=YYYY-MM-DD``
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from apps.accounts.models import TradingAccount
from apps.accounts.permissions import RoleAdminMixin
from apps.accounts.services import (
    trading_account_owner_add,
    trading_account_owner_remove,
    trading_account_rename,
    trading_account_set_status,
)
from apps.core.admin import ServiceAdmin, int_or_none
from apps.ledger.models import LedgerAccount
from apps.ledger.selectors import account_statement, account_statement_entries, balance_list
from apps.orders.models import Order
from apps.orders.selectors import position_list
from apps.orders.state import OPEN
from apps.risk.admin import kill_switch_context
from apps.users.roles import OPERATIONS

#: Lines shown on the statement page; the CSV export has them all.
STATEMENT_PAGE_LINES = 1000
#: Open orders listed on the overview page (the order list has them all).
OVERVIEW_OPEN_ORDERS = 200


def utc_micro(value: datetime) -> str:
    """ISO 8601 UTC with microseconds, always six digits: 2026-01-02T03:04:05.000006Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def at_scale(value: Decimal, scale: int) -> str:
    """An amount as an exact fixed-point string at its asset's scale (never exponent notation)."""
    return format(value.quantize(Decimal(1).scaleb(-scale)), "f")


class StatementForm(forms.Form):
    start = forms.DateField(label="From (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("The end date is before the start date.")
        return data

    def period(self) -> tuple[datetime, datetime]:
        """``[start 00:00 UTC, the day after end 00:00 UTC)``."""
        start: date = self.cleaned_data["start"]
        end: date = self.cleaned_data["end"]
        return (
            datetime.combine(start, time.min, tzinfo=UTC),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        )


class LedgerAccountInline(admin.TabularInline):
    model = LedgerAccount
    fields = ("purpose", "asset", "balance", "version")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        return super().get_queryset(request).select_related("asset")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(TradingAccount)
class TradingAccountAdmin(RoleAdminMixin, ServiceAdmin):
    change_form_template = "admin/accounts/tradingaccount/change_form.html"
    list_display = ("number", "name", "base_currency", "status", "created_at")
    list_filter = ("status", "base_currency")
    search_fields = ("number",)  # see get_search_results
    search_help_text = "An account number, an account id or an owner's user name (exact)."
    readonly_fields = ("number", "base_currency", "created_at", "updated_at")
    fields = ("number", "name", "base_currency", "status", "owners", "created_at", "updated_at")
    filter_horizontal = ("owners",)
    inlines = [LedgerAccountInline]
    show_full_result_count = False
    change_roles = (OPERATIONS,)  # never added here (the service opens its ledger accounts), never deleted

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor: Any = request.user
        if "name" in form.changed_data:
            trading_account_rename(actor=actor, account=obj, name=obj.name)
        if "status" in form.changed_data:
            trading_account_set_status(actor=actor, account=obj, status=obj.status)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Not form.save_m2m(): an owner comes and goes with the grants, through the services.
        if "owners" in form.changed_data:
            account: TradingAccount = form.instance
            wanted = set(form.cleaned_data["owners"])
            current = set(account.owners.all())
            for user in sorted(wanted - current, key=lambda u: u.pk):
                trading_account_owner_add(actor=request.user, account=account, user=user)  # type: ignore[arg-type]
            for user in sorted(current - wanted, key=lambda u: u.pk):
                trading_account_owner_remove(actor=request.user, account=account, user=user)  # type: ignore[arg-type]
        for formset in formsets:  # the ledger accounts: read-only
            self.save_formset(request, form, formset, change=change)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        from apps.users.models import User

        owned = TradingAccount.owners.through.objects.filter(
            user_id__in=list(User.objects.filter(username=term).values_list("pk", flat=True))
        ).values_list("tradingaccount_id", flat=True)
        query = Q(number=term) | Q(pk__in=list(owned))
        if (pk := int_or_none(term)) is not None:
            query |= Q(pk=pk)
        return queryset.filter(query), False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = int_or_none(object_id)
        context = {**kill_switch_context(request.user, account_id=pk), **(extra_context or {})} if pk else extra_context
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/overview/", view(self.overview_view), name="accounts_tradingaccount_overview"),
            path("<int:object_id>/statement/", view(self.statement_view), name="accounts_tradingaccount_statement"),
            path(
                "<int:object_id>/statement.csv",
                view(self.statement_csv_view),
                name="accounts_tradingaccount_statement_csv",
            ),
            *super().get_urls(),
        ]

    def _account(self, request: HttpRequest, object_id: int) -> TradingAccount:
        if not self.has_view_permission(request):
            raise PermissionDenied
        account = TradingAccount.objects.filter(pk=object_id).first()
        if account is None:
            raise Http404("No such trading account.")
        return account

    def _context(self, request: HttpRequest, account: TradingAccount, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, "account": account}

    def overview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        account = self._account(request, object_id)
        open_orders = (
            Order.objects.filter(account=account, status__in=sorted(s.value for s in OPEN))
            .select_related("instrument")
            .order_by("-id")
        )
        today = datetime.now(UTC).date()
        context = {
            **self._context(request, account, f"Account {account.number}: {account.name}"),
            **kill_switch_context(request.user, account_id=account.pk),
            "balances": balance_list(trading_account_id=account.pk),
            "positions": position_list(account_id=account.pk),
            "open_orders": list(open_orders[:OVERVIEW_OPEN_ORDERS]),
            "open_orders_limit": OVERVIEW_OPEN_ORDERS,
            "statement_form": StatementForm(initial={"start": today.replace(day=1), "end": today}),
        }
        return TemplateResponse(request, "admin/accounts/tradingaccount/overview.html", context)

    def statement_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        account = self._account(request, object_id)
        form = StatementForm(request.GET)
        context = self._context(request, account, f"Statement of account {account.number}")
        context["statement_form"] = form
        if not form.is_valid():
            return TemplateResponse(request, "admin/accounts/tradingaccount/statement.html", context, status=400)
        start, end = form.period()
        sections = account_statement(trading_account_id=account.pk, start=start, end=end)
        remaining = STATEMENT_PAGE_LINES
        shown = []
        for section in sections:
            scale = section.ledger_account.asset.scale
            entries = list(
                account_statement_entries(ledger_account_ids=[section.ledger_account.pk], start=start, end=end)[
                    : remaining + 1
                ]
            )
            truncated = len(entries) > remaining
            entries = entries[:remaining]
            remaining -= len(entries)
            shown.append(
                {
                    "account": section.ledger_account,
                    "opening": at_scale(section.opening, scale),
                    "closing": at_scale(section.closing, scale),
                    "truncated": truncated,
                    "lines": [
                        {
                            "posted_at": utc_micro(e.posted_at),
                            "transaction": e.transaction,
                            "amount": at_scale(e.amount, scale),
                            "balance_after": at_scale(e.balance_after, scale),
                            "version": e.account_version,
                        }
                        for e in entries
                    ],
                }
            )
        context.update(
            {
                "sections": shown,
                "start": utc_micro(start),
                "end": utc_micro(end),
                "query": request.GET.urlencode(),
                "truncated": any(s["truncated"] for s in shown),
                "page_lines": STATEMENT_PAGE_LINES,
            }
        )
        return TemplateResponse(request, "admin/accounts/tradingaccount/statement.html", context)

    def statement_csv_view(self, request: HttpRequest, object_id: int) -> HttpResponse | StreamingHttpResponse:
        account = self._account(request, object_id)
        form = StatementForm(request.GET)
        if not form.is_valid():
            errors = "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in form.errors.items())
            return HttpResponse(f"Invalid statement period: {errors}\n", status=400, content_type="text/plain")
        start, end = form.period()
        filename = f"statement-{account.number}-{form.cleaned_data['start']}-{form.cleaned_data['end']}.csv"
        response = StreamingHttpResponse(self._statement_rows(account, start, end), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def _statement_rows(self, account: TradingAccount, start: datetime, end: datetime) -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(
            [
                "account_number",
                "ledger_account_id",
                "purpose",
                "asset",
                "line",
                "posted_at_utc",
                "transaction_id",
                "transaction_kind",
                "reference",
                "memo",
                "amount",
                "balance_after",
                "account_version",
            ]
        )
        for section in account_statement(trading_account_id=account.pk, start=start, end=end):
            ledger_account = section.ledger_account
            scale = ledger_account.asset.scale
            head = [account.number, ledger_account.pk, ledger_account.purpose, ledger_account.asset.code]
            yield writer.writerow(
                [*head, "opening", utc_micro(start), "", "", "", "", "", at_scale(section.opening, scale), ""]
            )
            entries = account_statement_entries(ledger_account_ids=[ledger_account.pk], start=start, end=end)
            for entry in entries.iterator(chunk_size=2000):
                txn = entry.transaction
                yield writer.writerow(
                    [
                        *head,
                        "entry",
                        utc_micro(entry.posted_at),
                        txn.pk,
                        txn.kind,
                        txn.reference,
                        txn.memo,
                        at_scale(entry.amount, scale),
                        at_scale(entry.balance_after, scale),
                        entry.account_version,
                    ]
                )
            yield writer.writerow(
                [*head, "closing", utc_micro(end), "", "", "", "", "", at_scale(section.closing, scale), ""]
            )
