"""Report runs as the API shows them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.reports.models import ReportFile, ReportRun


class ReportFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportFile
        fields = ("name", "content_type", "size", "sha256")


class ReportRunSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", allow_null=True, read_only=True)
    account_number = serializers.SerializerMethodField()
    files = ReportFileSerializer(many=True, read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = (
            "id",
            "kind",
            "business_date",
            "period_start",
            "period_end",
            "scope",
            "account",
            "account_number",
            "status",
            "started_at",
            "finished_at",
            "files",
            "download_url",
        )

    def get_account_number(self, run: ReportRun) -> str | None:
        return run.account.number if run.account_id and run.account else None

    def get_download_url(self, run: ReportRun) -> str | None:
        request: Any = self.context.get("request")
        if run.status != "succeeded" or request is None:
            return None
        return request.build_absolute_uri(f"/api/v1/reports/{run.pk}/download/")
