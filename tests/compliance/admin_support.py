"""Shared set-up for the admin tests: staff users in their role groups, funded accounts,
orders with fills (through the real services and the report intake)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import Group

from apps.brokers import intake
from apps.brokers.interface import ExecType, ExecutionReport
from apps.ledger import services as ledger
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.users.models import User

_ids = itertools.count(1)


def staff(username: str, role: str | None = None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if superuser:
        user.is_superuser = True
        user.save()
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # no cached permissions


def fund(account, actor, amount="100000.00"):  # type: ignore[no-untyped-def]
    ledger.cash_deposit(
        actor=actor, trading_account=account, currency="USD", amount=amount, idempotency_key=f"fund-{account.pk}"
    )
    return account


def buy(actor, account, symbol="ACME", quantity="10", limit="100.00") -> Order:  # type: ignore[no-untyped-def]
    return order_place(
        actor=actor,
        account=account,
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=quantity,
        limit_price=limit,
        time_in_force="day",
    )


def report(order: Order, exec_type: ExecType, qty: str = "0", price: str | None = None, fee: str = "0"):  # type: ignore[no-untyped-def]
    return ExecutionReport(
        exec_id=f"X{next(_ids)}",
        order_id=order.pk,
        exec_type=exec_type,
        broker_order_id=f"B{order.pk}",
        last_quantity=Decimal(qty),
        last_price=Decimal(price) if price else None,
        fee=Decimal(fee),
        broker_time=datetime(2026, 11, 25, 15, 30, 0, 123456, tzinfo=UTC),
    )


def acknowledge(order: Order) -> None:
    assert intake.receive(order.broker, report(order, ExecType.NEW)) == "applied"


def fill(order: Order, qty: str, price: str = "100.00", fee: str = "0.10", final: bool = False) -> None:
    kind = ExecType.FILL if final else ExecType.PARTIAL_FILL
    assert intake.receive(order.broker, report(order, kind, qty, price, fee)) == "applied"


def order_with_fills(actor, account, fills: int) -> Order:  # type: ignore[no-untyped-def]
    """A buy of ``fills + 1`` shares acknowledged and partially filled ``fills`` times."""
    order = buy(actor, account, quantity=str(fills + 1))
    acknowledge(order)
    for _ in range(fills):
        fill(order, "1")
    order.refresh_from_db()
    return order
