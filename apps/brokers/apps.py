from django.apps import AppConfig


class BrokersConfig(AppConfig):
    name = "apps.brokers"
    label = "brokers"

    def ready(self) -> None:
        from apps.brokers import receivers  # noqa: F401 - connects the signal receivers
