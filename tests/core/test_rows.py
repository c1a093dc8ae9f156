"""``update_rows``: many rows of one model in one statement, every column as its field stores it
(decimals, JSON, nulls, foreign keys, times), other columns and other rows untouched."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.rows import update_rows
from apps.orders.models import Order
from apps.orders.placement import order_place

pytestmark = pytest.mark.django_db


def test_many_rows_of_mixed_columns_in_one_statement(funded, actor, instrument):
    orders = [
        order_place(
            actor=actor,
            account=funded,
            symbol="ACME",
            side="buy",
            type="limit",
            quantity="1",
            limit_price="99.00",
            time_in_force="gtc",
            client_order_id=f"rows-{n}",
        )
        for n in range(3)
    ]
    first, second, untouched = orders
    later = timezone.now() + timedelta(seconds=5)
    first.pending_replace = {"quantity": "2", "limit_price": "98.5", "request_id": f"{first.pk}-1"}
    first.limit_price, first.updated_at, first.needs_review = Decimal("98.75000001"), later, True
    first.average_fill_price = Decimal("98.12345678")
    second.pending_replace, second.limit_price, second.hold_id = None, Decimal("97.00"), None
    second.reject_detail = 'it\'s "quoted", with a comma'
    fields = [
        "pending_replace",
        "limit_price",
        "average_fill_price",
        "updated_at",
        "needs_review",
        "hold",
        "reject_detail",
    ]
    with CaptureQueriesContext(connection) as captured:
        assert update_rows([first, second], fields) == 2
    assert len(captured.captured_queries) == 1
    stored = {o.pk: o for o in Order.objects.filter(pk__in=[o.pk for o in orders])}
    assert stored[first.pk].pending_replace == first.pending_replace
    assert (stored[first.pk].limit_price, stored[first.pk].updated_at) == (Decimal("98.75000001"), later)
    assert (stored[first.pk].needs_review, stored[first.pk].average_fill_price) == (True, Decimal("98.12345678"))
    assert stored[first.pk].hold_id == first.hold_id is not None
    assert (stored[second.pk].pending_replace, stored[second.pk].limit_price, stored[second.pk].hold_id) == (
        None,
        Decimal("97.00"),
        None,
    )
    assert stored[second.pk].average_fill_price is None
    assert stored[second.pk].reject_detail == second.reject_detail
    assert stored[untouched.pk].limit_price == Decimal("99.00")
    assert stored[untouched.pk].updated_at == untouched.updated_at
    assert update_rows([], fields) == 0


def test_values_not_yet_in_their_stored_type_are_prepared_by_their_field(funded, actor, instrument):
    """Values already of the column's type are sent as they are; anything else goes through the
    field, exactly as ``save`` would (a decimal as a string, an aware time in another zone)."""
    from datetime import timezone as tz

    order = order_place(
        actor=actor,
        account=funded,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="99.00",
        time_in_force="gtc",
        client_order_id="rows-prepared",
    )
    paris = timezone.now().astimezone(tz(timedelta(hours=2)))
    order.limit_price, order.updated_at = "96.50", paris  # type: ignore[assignment]
    assert update_rows([order], ["limit_price", "updated_at"]) == 1
    order.refresh_from_db()
    assert (order.limit_price, order.updated_at) == (Decimal("96.50"), paris)


def test_a_value_its_field_refuses_changes_nothing(funded, actor, instrument):
    from django.core.exceptions import ValidationError

    order = order_place(
        actor=actor,
        account=funded,
        symbol="ACME",
        side="buy",
        type="limit",
        quantity="1",
        limit_price="99.00",
        time_in_force="gtc",
        client_order_id="rows-refused",
    )
    order.limit_price = Decimal("NaN")
    with pytest.raises(ValidationError):
        update_rows([order], ["limit_price"])
    order.refresh_from_db()
    assert order.limit_price == Decimal("99.00")


def test_instances_are_the_rows_a_queryset_reads(funded):
    from apps.core.rows import instances, select_list
    from apps.ledger.models import LedgerAccount

    expected = list(LedgerAccount.objects.filter(trading_account=funded).order_by("pk"))
    assert expected
    sql = f"SELECT {select_list(LedgerAccount, 'a')} FROM ledger_ledgeraccount a WHERE a.trading_account_id = %s"
    built = instances(LedgerAccount, sql + " ORDER BY a.id", [funded.pk])
    assert [a.pk for a in built] == [a.pk for a in expected]
    for got, want in zip(built, expected, strict=True):
        assert not got._state.adding and got._state.db == "default"
        assert {f.attname: getattr(got, f.attname) for f in LedgerAccount._meta.concrete_fields} == {
            f.attname: getattr(want, f.attname) for f in LedgerAccount._meta.concrete_fields
        }
