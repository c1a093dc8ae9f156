"""Report runs (read-only, with their files to download and their deliveries), running a report
for a date from the admin, re-running one, and the recipients of each kind."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.accounts.models import TradingAccount
from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, fixed_choices_filter
from apps.core.errors import ApplicationError
from apps.reports.kinds import KINDS
from apps.reports.models import ReportDelivery, ReportFile, ReportRecipient, ReportRun, Trigger
from apps.reports.selectors import report_file_get
from apps.reports.services import report_file_read, report_rerun, report_run_execute


def _kind_choices() -> list[tuple[str, str]]:
    return [(key, kind.title) for key, kind in sorted(KINDS.items())]


class ReportFileInline(ReadOnlyInline):
    model = ReportFile
    fields = ("download", "content_type", "size", "sha256", "created_at")
    readonly_fields = fields

    @admin.display(description="file")
    def download(self, obj: ReportFile) -> str:
        url = reverse("admin:reports_reportrun_download", args=(obj.run_id, obj.pk))
        return format_html('<a href="{}">{}</a>', url, obj.name)


class ReportDeliveryInline(ReadOnlyInline):
    model = ReportDelivery
    fields = ("channel", "recipient", "status", "error", "at")
    readonly_fields = fields


class RunReportForm(forms.Form):
    kind = forms.ChoiceField(choices=_kind_choices)
    business_date = forms.DateField(help_text="A business date whose session has closed (YYYY-MM-DD).")
    account = forms.CharField(required=False, help_text="Account number, for per-account reports (statements).")
    deliver = forms.BooleanField(required=False, help_text="Also e-mail it to the kind's recipients.")


@admin.register(ReportRun)
class ReportRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "business_date", "scope_label", "status", "trigger", "started_by", "files_list")
    list_filter = (
        fixed_choices_filter("kind", "kind", _kind_choices),
        "status",
        "trigger",
        "business_date",
    )
    date_hierarchy = "business_date"
    search_fields = ("account__number",)
    readonly_fields = [f.name for f in ReportRun._meta.fields]
    inlines = [ReportFileInline, ReportDeliveryInline]
    actions = ["rerun"]
    change_list_template = "admin/reports/reportrun/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReportRun]:
        return super().get_queryset(request).select_related("account", "started_by").prefetch_related("files")

    @admin.display(description="scope")
    def scope_label(self, obj: ReportRun) -> str:
        return obj.account.number if obj.account_id and obj.account else "firm"

    @admin.display(description="files")
    def files_list(self, obj: ReportRun) -> str:
        return format_html_join(
            " ",
            '<a href="{}">{}</a>',
            ((reverse("admin:reports_reportrun_download", args=(obj.pk, f.pk)), f.name) for f in obj.files.all()),
        )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.run_report")

    @admin.action(description="Re-run the selected reports (new runs; same files if the records are intact)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[ReportRun]) -> None:
        if not self.has_run_permission(request):
            raise PermissionDenied
        same, changed = 0, 0
        for run in queryset.prefetch_related("files"):
            again = report_rerun(actor=request.user, run=run)  # type: ignore[arg-type]
            before = {f.name: f.sha256 for f in run.files.all()}
            after = {f.name: f.sha256 for f in again.files.all()}
            if before == after:
                same += 1
            else:
                changed += 1
        level = messages.SUCCESS if not changed else messages.WARNING
        self.message_user(request, f"Re-ran {same + changed} report(s): {same} identical, {changed} different.", level)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:run_id>/files/<int:file_id>/",
                self.admin_site.admin_view(self.download_view),
                name="reports_reportrun_download",
            ),
            path("run/", self.admin_site.admin_view(self.run_view), name="reports_reportrun_run"),
        ]
        return own + super().get_urls()

    def download_view(self, request: HttpRequest, run_id: int, file_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        file = ReportFile.objects.filter(pk=file_id, run_id=run_id).select_related("run").first()
        if file is None or report_file_get(run=file.run, name=file.name) is None:
            raise Http404("No such report file.")
        response = HttpResponse(report_file_read(file=file), content_type=file.content_type)
        response["Content-Disposition"] = f'attachment; filename="{file.name}"'
        return response

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_run_permission(request):
            raise PermissionDenied
        form = RunReportForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            account_id = None
            if data["account"]:
                account = TradingAccount.objects.filter(number=data["account"].strip()).first()
                if account is None:
                    form.add_error("account", "No such account.")
                account_id = account.pk if account else None
            if not form.errors:
                try:
                    run = report_run_execute(
                        actor=request.user,  # type: ignore[arg-type]
                        kind=data["kind"],
                        business_date=data["business_date"],
                        account_id=account_id,
                        trigger=Trigger.MANUAL,
                        deliver=data["deliver"],
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.detail)
                else:
                    level = messages.SUCCESS if run.status == "succeeded" else messages.ERROR
                    self.message_user(request, f"Report run {run.pk}: {run.status}. {run.error}".strip(), level)
                    return HttpResponseRedirect(reverse("admin:reports_reportrun_change", args=(run.pk,)))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Run a report",
            "form": form,
            "today": timezone.now().date().isoformat(),
        }
        return TemplateResponse(
            request, "admin/reports/reportrun/run.html", context, status=400 if request.method == "POST" else 200
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_run_report": self.has_run_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)


@admin.register(ReportRecipient)
class ReportRecipientAdmin(admin.ModelAdmin):
    """A configuration row (audited by auditlog); it moves no value and has no service."""

    list_display = ("kind", "email", "account_owners", "active", "created_at")
    list_filter = (fixed_choices_filter("kind", "kind", _kind_choices), "active")
    search_fields = ("email",)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "kind":
            return forms.ChoiceField(choices=_kind_choices, help_text="The report kind this recipient receives.")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the audit trail keeps who received what and when
