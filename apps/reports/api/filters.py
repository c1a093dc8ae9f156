"""Query filters for the report list (validated: a bad value answers 400)."""

from __future__ import annotations

import django_filters

from apps.core.api.filters import StrictFilterSet
from apps.orders.api.filters import IdFilter
from apps.reports.kinds import KINDS
from apps.reports.models import ReportRun


def _kinds() -> list[tuple[str, str]]:
    return [(key, kind.title) for key, kind in sorted(KINDS.items())]


class ReportRunFilter(StrictFilterSet):
    kind = django_filters.ChoiceFilter(choices=_kinds)
    account = IdFilter(field_name="account_id")
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")

    class Meta:
        model = ReportRun
        fields = ("kind", "account", "business_date")
