"""Order locks. Global order: the order row, then ledger accounts by primary key, then holds."""

from __future__ import annotations

from apps.orders.models import Order


def lock_order(order_id: int) -> Order | None:
    return (
        Order.objects.select_for_update(no_key=True, of=("self",))
        .select_related("instrument__asset", "account", "hold")
        .filter(pk=order_id)
        .first()
    )
