from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"

    def ready(self) -> None:
        from apps.brokers.sinks import register_report_sink
        from apps.orders import execution

        register_report_sink(execution)  # the intake books reports through the orders app
