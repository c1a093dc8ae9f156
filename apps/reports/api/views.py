"""Clients read their reports (statements) and download their files; staff see firm-wide ones."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from apps.core.api.base import ActorBoundMixin, BackofficeAPIView
from apps.core.api.schema import ProblemSerializer
from apps.core.errors import NotFound
from apps.core.ids import parse_id
from apps.reports import selectors
from apps.reports.api import serializers as s
from apps.reports.api.filters import ReportRunFilter
from apps.reports.models import ReportRun, RunStatus
from apps.reports.services import report_file_read


class ReportRunListView(ActorBoundMixin, ListAPIView):
    """Report runs the user may read, newest business date first: statements of the accounts
    they can view; firm-wide reports too for staff."""

    serializer_class = s.ReportRunSerializer
    filterset_class = ReportRunFilter

    def get_queryset(self) -> QuerySet[ReportRun]:
        return selectors.report_run_list_visible_to(self.request.user)


class ReportDownloadView(BackofficeAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file", str, description="A file name of the run (default: its main file, the PDF where there is one)."
            )
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The file, as stored."),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="A CSV file of the run."),
            (404, "application/problem+json"): OpenApiResponse(
                ProblemSerializer, description="No such run or file for this user (or the run has no files)."
            ),
        },
    )
    def get(self, request: Request, report_id: Any) -> HttpResponse:
        """Download a file of a report run (checked against its recorded SHA-256)."""
        pk = parse_id(report_id)
        run = selectors.report_run_list_visible_to(request.user).filter(pk=pk).first() if pk is not None else None
        if run is None or run.status != RunStatus.SUCCEEDED:
            raise NotFound("No such report.", code="report_not_found")
        name = request.query_params.get("file")
        file = selectors.report_file_get(run=run, name=name)
        if file is None:
            raise NotFound("No such file in this report.", code="report_file_not_found")
        response = HttpResponse(report_file_read(file=file), content_type=file.content_type)
        response["Content-Disposition"] = f'attachment; filename="{file.name}"'
        response["Content-Length"] = str(file.size)
        response["X-Content-SHA256"] = file.sha256
        return response
