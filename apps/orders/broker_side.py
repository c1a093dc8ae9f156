"""What the orders app does for the brokers app, registered with it at start-up
(``OrdersConfig.ready`` → ``apps.brokers.sinks.register_order_side``): apply execution reports,
build the tickets a venue sees, record that an order was routed. The brokers app sits below
orders and never imports it."""

from apps.orders.execution import apply_report, apply_reports
from apps.orders.routing import record_routed
from apps.orders.tickets import ticket_for

__all__ = ["apply_report", "apply_reports", "record_routed", "ticket_for"]
