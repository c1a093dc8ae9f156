"""Orders in the admin: read-only lists that stay fast as they grow, and a timeline page per
order (``/admin/orders/order/<id>/timeline/``) with every event and fill in order, to the
microsecond, with who caused each (actor) and why (initiator)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.brokers.registry import installed_plugins
from apps.core.admin import ReadOnlyAdmin, fixed_choices_filter, int_or_none
from apps.orders.models import Fill, Order, OrderEvent, Position
from apps.risk.checks import REASON_CODES

#: The reason codes an order can be rejected with: risk's (docs/risk.md) and the broker's.
REJECT_REASONS = [(code, code) for code in (*REASON_CODES, "broker_rejected")]


def _brokers() -> list[tuple[str, str]]:
    return [(name, name) for name in installed_plugins()]


def utc_micro(value: datetime | None) -> str:
    """A time in UTC with its microseconds, always six digits: 2026-01-02 03:04:05.000006 UTC."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _account_and_instrument_ids(term: str) -> tuple[list[int], list[int]]:
    """Resolve a search term as an account number and as a symbol (unique indexes), so the
    big table is then filtered by its own indexed foreign keys, never joined and scanned."""
    from apps.accounts.models import TradingAccount
    from apps.instruments.models import Instrument

    accounts = list(TradingAccount.objects.filter(number=term).values_list("pk", flat=True))
    instruments = list(Instrument.objects.filter(symbol=term.upper()).values_list("pk", flat=True))
    return accounts, instruments


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    rank: int  # events before the fill they book, at the same microsecond
    row_id: int
    what: str  # "event" or "fill"
    kind: str
    status_after: str
    actor: str
    initiator: str
    broker_at: datetime | None
    source_ip: str
    correlation_id: str
    detail: str
    transaction_id: int | None

    @property
    def at_text(self) -> str:
        return utc_micro(self.at)

    @property
    def broker_at_text(self) -> str:
        return utc_micro(self.broker_at)


def order_timeline_rows(order_id: int) -> list[TimelineRow]:
    """Every event and fill of the order, in time order (two queries)."""
    rows = [
        TimelineRow(
            at=e.at,
            rank=0,
            row_id=e.pk,
            what="event",
            kind=e.get_kind_display(),
            status_after=e.status_after,
            actor=e.actor.get_username(),
            initiator=e.get_initiator_display() if e.initiator else "",
            broker_at=e.broker_at,
            source_ip=e.source_ip or "",
            correlation_id=e.correlation_id,
            detail=json.dumps(e.data, cls=DjangoJSONEncoder, sort_keys=True, indent=1) if e.data else "",
            transaction_id=None,
        )
        for e in OrderEvent.objects.filter(order_id=order_id).select_related("actor").order_by("id")
    ]
    rows += [
        TimelineRow(
            at=f.booked_at,
            rank=1,
            row_id=f.pk,
            what="fill",
            kind="Fill (late)" if f.late else "Fill",
            status_after="",
            actor=f.transaction.actor.get_username(),
            initiator="Venue",
            broker_at=f.executed_at,
            source_ip="",
            correlation_id=f.transaction.correlation_id,
            detail=f"{f.quantity:f} @ {f.price:f}, fee {f.fee:f}, exec id {f.exec_id} ({f.broker})",
            transaction_id=f.transaction_id,
        )
        for f in Fill.objects.filter(order_id=order_id).select_related("transaction__actor").order_by("id")
    ]
    rows.sort(key=lambda r: (r.at, r.rank, r.row_id))
    return rows


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    change_form_template = "admin/orders/order/change_form.html"
    list_display = (
        "id",
        "account",
        "instrument",
        "side",
        "type",
        "quantity",
        "limit_price",
        "status",
        "filled_quantity",
        "reject_reason",
        "needs_review",
        "created_at",
    )
    list_filter = (
        "status",
        "side",
        "type",
        "time_in_force",
        "needs_review",
        fixed_choices_filter("reject_reason", "reject reason", REJECT_REASONS),
        fixed_choices_filter("broker", "broker", _brokers),
    )
    search_fields = ("id",)  # see get_search_results
    search_help_text = "An order id, an account number or a symbol (exact)."
    list_select_related = ("account", "instrument")
    date_hierarchy = "created_at"
    readonly_fields = ["timeline", *(f.name for f in Order._meta.fields)]
    show_full_result_count = False

    @admin.display(description="timeline")
    def timeline(self, obj: Order) -> str:
        url = reverse("admin:orders_order_timeline", args=(obj.pk,))
        return format_html('<a href="{}">Open the timeline</a>', url)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        accounts, instruments = _account_and_instrument_ids(term)
        query = Q(account_id__in=accounts) | Q(instrument_id__in=instruments)
        if (pk := int_or_none(term)) is not None:
            query |= Q(pk=pk)
        return queryset.filter(query), False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/timeline/",
                self.admin_site.admin_view(self.timeline_view),
                name="orders_order_timeline",
            ),
            *super().get_urls(),
        ]

    def timeline_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = Order.objects.select_related("account", "instrument").filter(pk=object_id).first()
        if order is None:
            raise Http404("No such order.")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Timeline of order {order.pk}",
            "opts": self.model._meta,
            "order": order,
            "created_at": utc_micro(order.created_at),
            "rows": order_timeline_rows(order.pk),
        }
        return TemplateResponse(request, "admin/orders/order/timeline.html", context)


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "kind", "status_after", "at_micro", "initiator", "actor")
    list_filter = ("kind", "initiator", "status_after")
    search_fields = ("order__id",)  # see get_search_results
    search_help_text = "An order id (exact)."
    list_select_related = ("order", "actor")
    readonly_fields = [f.name for f in OrderEvent._meta.fields]
    ordering = ("-id",)
    show_full_result_count = False

    @admin.display(description="at (UTC)", ordering="at")
    def at_micro(self, obj: OrderEvent) -> str:
        return utc_micro(obj.at)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        pk = int_or_none(term)
        return (queryset.filter(order_id=pk) if pk is not None else queryset.none()), False


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("exec_id", "order", "broker", "quantity", "price", "fee", "executed_at", "late")
    list_filter = (fixed_choices_filter("broker", "broker", _brokers), "late")
    search_fields = ("exec_id",)  # see get_search_results
    search_help_text = "An order id or an execution id (exact)."
    list_select_related = ("order",)
    readonly_fields = [f.name for f in Fill._meta.fields]
    ordering = ("-id",)
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        term = search_term.strip()
        if not term:
            return queryset, False
        # (broker, exec_id) is the unique index: name the brokers so it can be used.
        query = Q(broker__in=installed_plugins(), exec_id=term)
        if (pk := int_or_none(term)) is not None:
            query |= Q(order_id=pk)
        return queryset.filter(query), False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("account", "instrument", "quantity", "cost_basis", "realized_pnl", "updated_at")
    search_fields = ("account__number__exact", "instrument__symbol__exact")
    list_select_related = ("account", "instrument")
    readonly_fields = [f.name for f in Position._meta.fields]
