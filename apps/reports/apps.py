from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from apps.compliance.records.export import export_section_register
        from apps.reports import generators  # noqa: F401 - registers the report kinds
        from apps.reports.records import SECTION

        export_section_register(SECTION)
