"""Reconciliation with the built-in paper broker, end to end: orders relayed to it, fills booked
from its answers, and a fill whose report was produced by its poll but never reached our intake."""

from __future__ import annotations

import pytest

from apps.brokers import registry
from apps.compliance.reconciliation import ORDER_NOT_OPEN_AT_BROKER, POSITION_VS_BROKER, reconciliation_run
from apps.instruments.services import reference_price_set
from tests.compliance.admin_support import fund
from tests.compliance.venue import place, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def paper(settings, account, instrument, actor):  # type: ignore[no-untyped-def]
    settings.BROKERS = {"paper": {}}
    settings.DEFAULT_BROKER = "paper"
    settings.RECONCILIATION_BROKER_GRACE_SECONDS = 0
    fund(account, actor)
    return registry.get_adapter("paper")


def test_the_paper_broker_agrees_with_our_books_then_a_lost_fill_is_found(paper, account, instrument, actor):
    filled = place(actor, account, quantity="10", limit="100.00")  # crosses the reference price: fills at once
    resting = place(actor, account, quantity="5", limit="90.00")
    send()
    filled.refresh_from_db()
    resting.refresh_from_db()
    assert (filled.status, resting.status) == ("filled", "new")

    result = reconciliation_run()
    assert result.ok, [d.summary for d in result.differences]
    (check,) = result.brokers
    assert (check.broker, check.positions_compared, check.orders_compared) == ("paper", 1, 1)

    reference_price_set(actor=actor, instrument=instrument, price="89.00")
    assert [r.order_id for r in paper.poll() if r.exec_type == "fill"] == [resting.pk]  # never given to the intake
    result = reconciliation_run()
    assert sorted(b.kind for b in result.recorded) == [ORDER_NOT_OPEN_AT_BROKER, POSITION_VS_BROKER]
    position = next(b for b in result.recorded if b.kind == POSITION_VS_BROKER)
    assert (position.details["ours"]["quantity"], position.details["theirs"]["quantity"]) == ("10", "15")
    assert [a.details["broker"] for a in result.alerts] == ["paper"]
