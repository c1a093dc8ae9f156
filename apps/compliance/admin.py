"""Compliance in the admin: alerts (acknowledge once), security events, and the exception queues
a supervisor works through (risk rejections, fills after a cancel or expiry, dead-lettered
execution reports, reconciliation breaks), each with who reviewed an item and when.

Everything here is read-only; the only writes are the "Mark reviewed" and "Acknowledge" actions,
which call services (``apps/compliance/services.py``). Who may do what:

- see a queue: ``compliance.view_<queue model>`` (``view_riskrejection``, ``view_latefillorder``,
  ``view_deadletteredreport``, ``view_reconciliationbreak``);
- review queue items: also ``compliance.review_exception``;
- acknowledge an alert: ``compliance.view_compliancealert`` and ``compliance.change_compliancealert``
  (an alert's content can never change: the acknowledgement is the only change there is);
- replay a dead-lettered report (``admin_replay.py``): also ``brokers.replay_report``;
- run the reconciliation now (the "Reconcile now" button on the reconciliation-break queue, POST
  only): ``compliance.view_reconciliationbreak`` and ``compliance.run_reconciliation``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apps.accounts.models import TradingAccount
from apps.compliance import queues
from apps.compliance.admin_replay import DeadLetterReplayMixin
from apps.compliance.models import (
    CheckRun,
    ComplianceAlert,
    DeadLetteredReport,
    ExceptionQueue,
    LateFillOrder,
    ReconciliationBreak,
    RiskRejection,
    SecurityEvent,
)
from apps.compliance.reconciliation import reconciliation_run
from apps.compliance.services import compliance_alert_acknowledge, exception_review_record
from apps.core.admin import ReadOnlyAdmin
from apps.core.errors import ApplicationError
from apps.orders.models import Order

REVIEW_PERMISSION = "compliance.review_exception"
RECONCILE_PERMISSION = "compliance.run_reconciliation"


# --- alerts and security events -----------------------------------------------------------


@admin.register(ComplianceAlert)
class ComplianceAlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "raised_at", "severity", "kind", "summary", "acknowledged_by", "acknowledged_at")
    list_filter = ("severity", "kind", ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("summary",)
    date_hierarchy = "raised_at"
    list_select_related = ("acknowledged_by",)
    readonly_fields = [f.name for f in ComplianceAlert._meta.fields]
    actions = ["acknowledge"]

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(["compliance.view_compliancealert", "compliance.change_compliancealert"])

    @admin.action(permissions=["acknowledge"], description="Acknowledge the selected alerts")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[ComplianceAlert]) -> None:
        outcome = compliance_alert_acknowledge(actor=request.user, alert_ids=queryset.values_list("pk", flat=True))  # type: ignore[arg-type]
        if outcome.acknowledged:
            self.message_user(request, f"Acknowledged {len(outcome.acknowledged)} alert(s).", messages.SUCCESS)
        if outcome.already:
            self.message_user(
                request,
                f"{len(outcome.already)} alert(s) were already acknowledged and were left as they were.",
                messages.WARNING,
            )


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "username", "user", "channel", "source_ip", "user_agent")
    list_filter = ("kind", "channel", ("at", admin.DateFieldListFilter))
    search_fields = ("username", "=source_ip")
    date_hierarchy = "at"
    list_select_related = ("user",)
    readonly_fields = [f.name for f in SecurityEvent._meta.fields]
    show_full_result_count = False


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    """Every run of the ledger verification, the audit trail verification and the reconciliation."""

    list_display = ("id", "started_at", "kind", "ok", "summary", "finished_at", "run_by")
    list_filter = ("kind", "ok", ("started_at", admin.DateFieldListFilter))
    date_hierarchy = "started_at"
    list_select_related = ("run_by",)
    readonly_fields = [f.name for f in CheckRun._meta.fields]
    show_full_result_count = False


# --- the exception queues -------------------------------------------------------------------


class ReviewForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="What you checked and concluded. Kept with the review; it cannot be changed later.",
    )


class ReviewedFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "reviewed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not reviewed"), ("yes", "Reviewed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("yes", "no"):
            return queryset
        return queues.queue_filter_reviewed(queryset, queue=self.model_admin.queue, reviewed=self.value() == "yes")

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)


class ExceptionQueueAdmin(ReadOnlyAdmin):
    """One queue: newest first, filterable, searchable, read-only, with its review columns and a
    "Mark reviewed" action (and a per-item "Review" page) that ask for a required note."""

    queue: str
    review_template = "admin/compliance/exception_review.html"
    actions = ["mark_reviewed"]
    show_full_result_count = False
    list_per_page = 50

    # -- the list

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = queues.review_annotate(queues.queue_list(self.queue), queue=self.queue)
        if isinstance(self.list_select_related, list | tuple):
            qs = qs.select_related(*self.list_select_related)
        return qs

    @admin.display(description="reviewed by", ordering="review_by")
    def reviewed_by(self, obj: Any) -> str:
        return obj.review_by or "—"

    @admin.display(description="reviewed at", ordering="review_at")
    def reviewed_at(self, obj: Any) -> Any:
        return obj.review_at or "—"

    @admin.display(description="review note")
    def reviewed_note(self, obj: Any) -> str:
        return obj.review_note or ""

    @admin.display(description="")
    def review_link(self, obj: Any) -> str:
        if obj.review_at is not None:
            return ""
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_review", args=[obj.pk])
        return format_html('<a class="button" href="{}">Review</a>', url)

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = [*super().get_list_display(request), "reviewed_by", "reviewed_at", "reviewed_note"]
        if self.has_review_permission(request):
            columns.append("review_link")
        return columns

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields]

    # -- reviewing

    def has_review_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(REVIEW_PERMISSION)

    @admin.action(permissions=["review"], description="Mark reviewed (asks for a note)")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True))
        hidden = {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: ids}
        return self._review(request, ids, hidden=hidden, submitted=request.POST.get("post") == "yes")

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_review_permission(request):
            raise PermissionDenied
        try:
            pk = int(object_id)
        except ValueError:
            raise Http404 from None
        if not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404
        response = self._review(request, [pk], hidden={}, submitted=request.method == "POST")
        return response or HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        )

    def _review(
        self, request: HttpRequest, ids: list[int], *, hidden: dict[str, Any], submitted: bool
    ) -> HttpResponse | None:
        form = ReviewForm(request.POST if submitted else None)
        if submitted and form.is_valid():
            try:
                outcome = exception_review_record(
                    actor=request.user,  # type: ignore[arg-type]
                    queue=self.queue,
                    object_ids=ids,
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                form.add_error("note" if exc.code == "review_note_required" else None, exc.detail)
            else:
                if outcome.recorded:
                    self.message_user(request, f"Recorded your review of {len(outcome.recorded)} item(s).")
                if outcome.already_reviewed:
                    self.message_user(
                        request,
                        f"{len(outcome.already_reviewed)} item(s) had already been reviewed and keep their "
                        f"first review: {', '.join(map(str, outcome.already_reviewed))}.",
                        messages.WARNING,
                    )
                return None
        items = self.get_queryset(request).filter(pk__in=ids).order_by("-pk")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {len(ids)} item(s): {ExceptionQueue(self.queue).label.lower()}",
            "opts": self.opts,
            "form": form,
            "items": items,
            "hidden": [(name, value) for name, values in hidden.items() for value in _as_list(values)],
            "queue_label": ExceptionQueue(self.queue).label,
            "media": self.media,
        }
        return TemplateResponse(request, self.review_template, context)

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        extra = [
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="{}_{}_review".format(*info),
            )
        ]
        return extra + super().get_urls()


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


class OrderAccountFilter(admin.SimpleListFilter):
    """By trading account, offering only the accounts that have items in this queue."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        accounts = TradingAccount.objects.filter(pk__in=self._account_ids(model_admin, request)).order_by("number")
        return [(str(a.pk), str(a)) for a in accounts.only("pk", "number", "name")]

    def _account_ids(self, model_admin: Any, request: HttpRequest) -> QuerySet:
        return queues.queue_list(model_admin.queue).order_by().values("account_id")

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not str(value).isdigit():
            return queryset.none()
        return queryset.filter(account_id=int(value))


class DeadLetterAccountFilter(OrderAccountFilter):
    def _account_ids(self, model_admin: Any, request: HttpRequest) -> QuerySet:
        order_ids = queues.dead_letter_list().order_by().values("order_id")
        return Order.objects.filter(pk__in=order_ids).order_by().values("account_id")

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not str(value).isdigit():
            return queryset.none()
        return queryset.filter(order_id__in=Order.objects.filter(account_id=int(value)).values("id"))


@admin.register(RiskRejection)
class RiskRejectionQueueAdmin(ExceptionQueueAdmin):
    queue = ExceptionQueue.RISK_REJECTION
    list_display = ("id", "created_at", "account", "instrument", "side", "quantity", "reject_reason", "reject_detail")
    list_display_links = ("id",)
    list_filter = (ReviewedFilter, ("created_at", admin.DateFieldListFilter), OrderAccountFilter, "reject_reason")
    search_fields = ("=id", "account__number", "instrument__symbol", "reject_reason", "reject_detail")
    list_select_related = ("account", "instrument")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


@admin.register(LateFillOrder)
class LateFillQueueAdmin(ExceptionQueueAdmin):
    queue = ExceptionQueue.LATE_FILL
    list_display = (
        "id",
        "updated_at",
        "account",
        "instrument",
        "side",
        "quantity",
        "status",
        "filled_quantity",
        "late_fills",
        "late_quantity",
        "created_at",
    )
    list_filter = (ReviewedFilter, ("updated_at", admin.DateFieldListFilter), OrderAccountFilter, "status")
    search_fields = ("=id", "account__number", "instrument__symbol", "=broker_order_id")
    list_select_related = ("account", "instrument")
    date_hierarchy = "updated_at"
    ordering = ("-updated_at", "-id")

    @admin.display(description="late fills")
    def late_fills(self, obj: Any) -> int:
        return obj.late_fills

    @admin.display(description="late quantity")
    def late_quantity(self, obj: Any) -> Any:
        return obj.late_quantity


@admin.register(DeadLetteredReport)
class DeadLetterQueueAdmin(DeadLetterReplayMixin, ExceptionQueueAdmin):
    queue = ExceptionQueue.DEAD_LETTER
    list_display = (
        "id",
        "received_at",
        "broker",
        "exec_id",
        "order_id",
        "account_number",
        "exec_type",
        "error",
        "payload",
    )
    list_filter = (
        ReviewedFilter,
        ("received_at", admin.DateFieldListFilter),
        DeadLetterAccountFilter,
        "broker",
        "exec_type",
    )
    search_fields = ("=exec_id", "=order_id", "error", "account_number")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")

    @admin.display(description="account", ordering="account_number")
    def account_number(self, obj: Any) -> str:
        return obj.account_number or "—"


@admin.register(ReconciliationBreak)
class ReconciliationBreakQueueAdmin(ExceptionQueueAdmin):
    queue = ExceptionQueue.RECONCILIATION_BREAK
    list_display = ("id", "found_at", "kind", "account", "summary", "details")
    list_filter = (ReviewedFilter, ("found_at", admin.DateFieldListFilter), OrderAccountFilter, "kind")
    search_fields = ("=id", "account__number", "summary", "kind")
    list_select_related = ("account",)
    date_hierarchy = "found_at"
    ordering = ("-found_at", "-id")
    change_list_template = "admin/compliance/reconciliationbreak/change_list.html"

    # -- "Reconcile now": the same service as the nightly task, on a POST from the queue page

    def has_run_reconciliation_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(RECONCILE_PERMISSION)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "can_run_reconciliation": self.has_run_reconciliation_permission(request)}
        return super().changelist_view(request, extra)

    def reconcile_view(self, request: HttpRequest) -> HttpResponse:
        """Run the whole reconciliation (books and every enabled broker) now, as the user. Refused
        rather than queued while another run holds the lock, so the request never waits on it."""
        if not self.has_run_reconciliation_permission(request):
            raise PermissionDenied
        try:
            result = reconciliation_run(actor=request.user, wait=False)  # type: ignore[arg-type]
        except ApplicationError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
        else:
            self.message_user(
                request,
                f"Reconciliation ran: {len(result.differences)} difference(s), {len(result.recorded)} new break(s) "
                f"recorded, {len(result.already_open)} already open; {len(result.alerts)} alert(s) raised.",
                messages.WARNING if result.recorded else messages.SUCCESS,
            )
            for check in result.brokers:
                if check.error:
                    self.message_user(
                        request, f"Broker {check.broker} could not be reconciled: {check.error}", messages.ERROR
                    )
        return HttpResponseRedirect(reverse("admin:compliance_reconciliationbreak_changelist"))

    def get_urls(self) -> list[URLPattern]:
        reconcile = path(
            "reconcile/",
            self.admin_site.admin_view(require_POST(self.reconcile_view)),
            name="compliance_reconciliationbreak_reconcile",
        )
        return [reconcile, *super().get_urls()]
