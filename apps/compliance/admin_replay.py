"""Replaying a dead-lettered execution report from its exception queue: a per-item "Replay"
button and a confirmation page with a required reason, calling ``apps.brokers.intake.report_replay``
(which re-applies the stored report once and records who replayed it, why, and what came of it).

Who may: ``compliance.view_deadletteredreport`` to see the queue and ``brokers.replay_report``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.brokers.intake import report_replay
from apps.core.admin import reason_page

REPLAY_PERMISSION = "brokers.replay_report"


class DeadLetterReplayMixin(admin.ModelAdmin):
    def has_replay_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(REPLAY_PERMISSION)

    @admin.display(description="")
    def replay_link(self, obj: Any) -> str:
        url = reverse("admin:compliance_deadletteredreport_replay", args=[obj.pk])
        return format_html('<a class="button" href="{}">Replay</a>', url)

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        return [*columns, "replay_link"] if self.has_replay_permission(request) else columns

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_replay_permission(request):
            raise PermissionDenied
        if not object_id.isdigit():
            raise Http404
        record = self.get_queryset(request).filter(pk=int(object_id)).first()
        if record is None:
            raise Http404

        def act(reason: str) -> str:
            replay = report_replay(actor=request.user, record_id=record.pk, reason=reason)  # type: ignore[arg-type]
            if replay.outcome == "applied":
                return f"Report {record.broker}:{record.exec_id} replayed: it is booked."
            return f"Report {record.broker}:{record.exec_id} replayed, and still cannot be applied: {replay.error}"

        return reason_page(
            self,
            request,
            title="Replay a dead-lettered report",
            explanation=(
                "The stored report is applied to its order once more, as if the broker had sent it again. "
                "If it is booked it leaves this queue; if not, it stays with the new error. Either way your "
                "name, the time and your reason are recorded with it."
            ),
            item=f"{record.broker}:{record.exec_id} ({record.exec_type}) for order {record.order_id}: {record.error}",
            submit_label="Replay the report",
            back=reverse("admin:compliance_deadletteredreport_changelist"),
            act=act,
        )

    def get_urls(self) -> list[URLPattern]:
        replay = path(
            "<path:object_id>/replay/",
            self.admin_site.admin_view(self.replay_view),
            name="compliance_deadletteredreport_replay",
        )
        return [replay, *super().get_urls()]
