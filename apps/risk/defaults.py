"""The firm's default limits, created by a migration (and restored by tests that flush)."""

from __future__ import annotations

from decimal import Decimal

FIRM_DEFAULT_LIMITS: dict[str, Decimal | int] = {
    "max_order_quantity": Decimal("100000"),
    "max_order_notional": Decimal("1000000"),
    "max_position_quantity": Decimal("1000000"),
    "max_open_orders": 1000,
    "max_daily_notional": Decimal("10000000"),
    "max_orders_per_second": 50,
    "price_collar_percent": Decimal("10.00"),
    "max_price_age_seconds": 3600,
    "daily_loss_limit": Decimal("50000"),
    "daily_loss_halt_limit": Decimal("100000"),
    "max_gross_exposure": Decimal("1000000000"),
    "max_concentration_percent": Decimal("100.00"),
}


def firm_limits_ensure() -> None:
    from apps.risk.models import RiskLimits

    if not RiskLimits.objects.filter(account__isnull=True).exists():
        RiskLimits.objects.create(account=None, **FIRM_DEFAULT_LIMITS)
