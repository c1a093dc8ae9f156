"""The pipeline in the admin: the outbox (with why an instruction waits), execution reports (dead
letters included), broker routes that operations pause and resume, and the circuit breakers.

Writes go through services, each behind a confirmation page with a required reason:

- pause / resume a broker: ``brokers.pause_broker`` (``services.broker_pause`` / ``broker_resume``);
- close an order whose submit was dead-lettered, once its venue confirms it has no such order:
  ``brokers.close_dead_order`` (``services.order_close_dead``);
- an account's route: ``services.account_route_set`` / ``account_route_clear`` (operations, the
  role predicate the API asks: ``apps.accounts.permissions.has_role``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.accounts.permissions import RoleAdminMixin
from apps.brokers import registry
from apps.brokers.models import (
    AccountRoute,
    BrokerCircuit,
    BrokerControl,
    CircuitState,
    ExecutionReportRecord,
    InstructionStatus,
    OrderInstruction,
)
from apps.brokers.services import (
    account_route_clear,
    account_route_set,
    broker_pause,
    broker_resume,
    order_close_dead,
)
from apps.core.admin import ReadOnlyAdmin, ServiceAdmin, reason_page
from apps.orders.state import TERMINAL
from apps.users.roles import OPERATIONS

PAUSE_PERMISSION = "brokers.pause_broker"
CLOSE_PERMISSION = "brokers.close_dead_order"


def _gate() -> dict[str, str]:
    """Why each broker's instructions wait now (paused, circuit open), by broker: two small reads."""
    waiting = {
        b: "paused by operations" for b in BrokerControl.objects.filter(paused=True).values_list("broker", flat=True)
    }
    now = timezone.now()
    for circuit in BrokerCircuit.objects.exclude(state=CircuitState.CLOSED):
        if circuit.broker not in waiting:
            until = f" until {circuit.retry_at:%H:%M:%S}" if circuit.retry_at and circuit.retry_at > now else ""
            waiting[circuit.broker] = f"circuit {circuit.get_state_display().split(' ')[0].lower()}{until}"
    return waiting


@admin.register(OrderInstruction)
class OrderInstructionAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "broker", "action", "status", "waiting", "attempts", "available_at", "last_error")
    list_filter = ("status", "action", "broker", "maybe_delivered")
    search_fields = ("=order__id",)
    list_select_related = ("order",)
    readonly_fields = [f.name for f in OrderInstruction._meta.fields]
    show_full_result_count = False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self._waiting = _gate()  # once per page, not per row
        return super().changelist_view(request, extra_context)

    @admin.display(description="waiting")
    def waiting(self, obj: OrderInstruction) -> str:
        if obj.status not in (InstructionStatus.PENDING, InstructionStatus.UNKNOWN):
            return ""
        return getattr(self, "_waiting", {}).get(obj.broker, "")

    def has_close_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(CLOSE_PERMISSION)

    @admin.display(description="")
    def close_link(self, obj: OrderInstruction) -> str:
        if obj.action != "submit" or obj.status != InstructionStatus.DEAD or obj.order.status in TERMINAL:
            return ""
        url = reverse("admin:brokers_orderinstruction_close", args=[obj.pk])
        return format_html('<a class="button" href="{}">Close order</a>', url)

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        return [*columns, "close_link"] if self.has_close_permission(request) else columns

    def close_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_close_permission(request):
            raise PermissionDenied
        if not object_id.isdigit():
            raise Http404
        row = OrderInstruction.objects.select_related("order").filter(pk=int(object_id), action="submit").first()
        if row is None:
            raise Http404

        def act(reason: str) -> str:
            order = order_close_dead(actor=request.user, order_id=row.order_id, reason=reason)  # type: ignore[arg-type]
            return f"Order {order.pk} closed ({order.status}); its hold is released."

        return reason_page(
            self,
            request,
            title="Close an order whose submit was dead-lettered",
            explanation=(
                f"{row.broker} is asked now whether it has this order. Only if it has none is the order closed "
                "here: canceled by the firm, its hold released, its waiting instructions withdrawn, with your "
                "name, the time, your reason and the venue's answer in its timeline."
            ),
            item=f"Order {row.order_id} ({row.order.status}) via {row.broker}: {row.last_error}",
            submit_label="Ask the venue and close the order",
            back=reverse("admin:brokers_orderinstruction_changelist"),
            act=act,
        )

    def get_urls(self) -> list[URLPattern]:
        close = path(
            "<path:object_id>/close/",
            self.admin_site.admin_view(self.close_view),
            name="brokers_orderinstruction_close",
        )
        return [close, *super().get_urls()]


@admin.register(ExecutionReportRecord)
class ExecutionReportAdmin(ReadOnlyAdmin):
    list_display = ("broker", "exec_id", "order_id", "exec_type", "status", "attempts", "error", "received_at")
    list_filter = ("status", "broker", "exec_type")
    search_fields = ("=exec_id", "=order_id")
    readonly_fields = [f.name for f in ExecutionReportRecord._meta.fields]
    show_full_result_count = False


@admin.register(AccountRoute)
class AccountRouteAdmin(RoleAdminMixin, ServiceAdmin):
    list_display = ("account", "broker")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    add_roles = change_roles = delete_roles = (OPERATIONS,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("account",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        route = account_route_set(actor=request.user, account_id=obj.account_id, broker=obj.broker)  # type: ignore[arg-type]
        obj.pk = route.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        account_route_clear(actor=request.user, account_id=obj.account_id)  # type: ignore[arg-type]


@admin.register(BrokerCircuit)
class BrokerCircuitAdmin(ReadOnlyAdmin):
    list_display = ("broker", "state", "consecutive_failures", "opened_at", "retry_at", "last_error", "updated_at")
    readonly_fields = [f.name for f in BrokerCircuit._meta.fields]


@admin.register(BrokerControl)
class BrokerControlAdmin(ReadOnlyAdmin):
    """Every enabled broker with its pause state; pause and resume by hand, with a reason."""

    list_display = ("broker", "paused", "reason", "changed_by", "changed_at")
    readonly_fields = [f.name for f in BrokerControl._meta.fields]
    change_list_template = "admin/brokers/brokercontrol/change_list.html"

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(PAUSE_PERMISSION)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        paused = dict(BrokerControl.objects.values_list("broker", "paused"))
        waiting = _gate()
        routes = [
            {"broker": name, "paused": paused.get(name, False), "waiting": waiting.get(name, "")}
            for name in registry.enabled_brokers()
        ]
        extra = {**(extra_context or {}), "routes": routes, "can_pause": self.has_pause_permission(request)}
        return super().changelist_view(request, extra)

    def toggle_view(self, request: HttpRequest, broker: str, action: str) -> HttpResponse:
        if not self.has_pause_permission(request):
            raise PermissionDenied
        if broker not in registry.enabled_brokers() or action not in ("pause", "resume"):
            raise Http404
        service = broker_pause if action == "pause" else broker_resume

        def act(reason: str) -> str:
            service(actor=request.user, broker=broker, reason=reason)  # type: ignore[arg-type]
            return f"{broker} {'paused: its orders wait in the outbox' if action == 'pause' else 'resumed'}."

        explanation = (
            f"While {broker} is paused the relay sends it nothing: new orders, replaces and cancels wait in the "
            "outbox (a cancel of an order that never left it ends the order here at once)."
            if action == "pause"
            else f"The relay sends {broker} what waited, cancels first."
        )
        return reason_page(
            self,
            request,
            title=f"{action.capitalize()} {broker}",
            explanation=explanation,
            item=None,
            submit_label=f"{action.capitalize()} {broker}",
            back=reverse("admin:brokers_brokercontrol_changelist"),
            act=act,
        )

    def get_urls(self) -> list[URLPattern]:
        toggle = path(
            "routes/<str:broker>/<str:action>/",
            self.admin_site.admin_view(self.toggle_view),
            name="brokers_brokercontrol_toggle",
        )
        return [toggle, *super().get_urls()]
