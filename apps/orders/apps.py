from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"

    def ready(self) -> None:
        from apps.brokers.sinks import register_order_side
        from apps.orders import broker_side

        register_order_side(broker_side)  # reports, tickets and routing, for the brokers app
