from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core import arrays, celery_context, logs  # noqa: F401 - binds the task context

        arrays.register()
        logs.configure_structlog()
