"""Property test of the paper venue: random sequences of orders, price moves, polls, cancels and
replaces, under random liquidity and slippage, keep every invariant:

- every order's history passes the contract's ``check_history`` (quantities, order of events);
- every report is answered by exactly one call (nothing twice, nothing lost): the reports
  returned by submit, cancel, replace and poll are exactly what ``order_status`` holds;
- fills are on the tick grid and never worse than the limit in force;
- an order's fees add up to the commission of what it filled;
- positions are the net of the fills.

The ``db`` fixture is not reset between hypothesis examples: each example empties the venue's
book first, and uses fresh order ids and its own account number.
"""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.brokers.interface import FILL_TYPES, ExecType, OrderTicket, ReplaceRequest
from apps.instruments.services import reference_price_set
from plugins.paper.commission import commission_for
from plugins.paper.config import PaperSettings
from plugins.paper.models import PaperOrder
from tests.brokers.contract import check_history
from tests.plugins.paper.conftest import AcknowledgingPaperBroker, Clock

pytestmark = pytest.mark.django_db

TICK = D("0.01")
ORDER_IDS = itertools.count(100_000)
EXAMPLES = itertools.count(1)

order_spec = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    st.sampled_from(["day", "gtc", "ioc", "fok"]),
    st.integers(1, 300),  # quantity
    st.integers(-80, 80),  # limit, in ticks from 100.00
    st.integers(-80, 80),  # stop, in ticks from 100.00
)
operation = st.one_of(
    st.tuples(st.just("submit"), order_spec),
    st.tuples(st.just("price"), st.integers(9_900, 10_100)),
    st.tuples(st.just("poll"), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("replace"), st.tuples(st.integers(0, 20), st.integers(1, 300), st.integers(-80, 80))),
    st.tuples(st.just("resubmit"), st.integers(0, 20)),
)


def price_at(ticks: int) -> D:
    return D(100) + ticks * TICK


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    opening=st.lists(order_spec, min_size=1, max_size=6),
    operations=st.lists(operation, max_size=30),
    partial=st.one_of(st.none(), st.integers(1, 50)),
    slippage=st.integers(0, 50),
)
def test_random_sequences_keep_the_invariants(acme, actor, opening, operations, partial, slippage):
    PaperOrder.objects.all().delete()
    reference_price_set(actor=actor, instrument=acme, price="100.00")
    clock = Clock()
    config = PaperSettings(slippage_bps=D(slippage), partial_fill_quantity=D(partial) if partial else None)
    broker = AcknowledgingPaperBroker(config, clock=clock)
    account = f"PROP-{next(EXAMPLES)}"
    tickets: list[OrderTicket] = []
    answered: list = []
    for kind, arg in [("submit", spec) for spec in opening] + operations:
        clock.tick()
        if kind == "submit":
            side, order_type, tif, quantity, limit_ticks, stop_ticks = arg
            ticket = OrderTicket(
                order_id=next(ORDER_IDS),
                client_order_id="P",
                account_number=account,
                symbol="ACME",
                side=side,
                order_type=order_type,
                quantity=D(quantity),
                time_in_force=tif,
                limit_price=price_at(limit_ticks) if order_type in ("limit", "stop_limit") else None,
                stop_price=price_at(stop_ticks) if order_type in ("stop", "stop_limit") else None,
            )
            tickets.append(ticket)
            answered += broker.submit(ticket)
        elif kind == "price":
            reference_price_set(actor=actor, instrument=acme, price=D(arg) * TICK, as_of=clock.now)
        elif kind == "poll":
            answered += broker.poll()
        elif tickets and kind == "cancel":
            answered += broker.cancel(tickets[arg % len(tickets)])
        elif tickets and kind == "replace":
            index, quantity, limit_ticks = arg
            ticket = tickets[index % len(tickets)]
            limit = price_at(limit_ticks) if ticket.order_type in ("limit", "stop_limit") else None
            answered += broker.replace(ticket, ReplaceRequest(quantity=D(quantity), limit_price=limit))
        elif tickets and kind == "resubmit":
            again = broker.submit(tickets[arg % len(tickets)])
            assert list(again) == list(broker.order_status(tickets[arg % len(tickets)]))

    ids = [r.exec_id for r in answered]
    assert len(ids) == len(set(ids)), "a report was answered twice"
    stored = {r.exec_id for t in tickets for r in broker.order_status(t)}
    assert stored == set(ids), "a report was never answered"

    net = D(0)
    for ticket in tickets:
        history = list(broker.order_status(ticket))
        check_history(ticket, history)
        limit, filled, fees = ticket.limit_price, D(0), D(0)
        for report in history:
            if report.exec_type == ExecType.REPLACED:
                limit = report.limit_price
            if report.exec_type in FILL_TYPES:
                assert report.last_price % TICK == 0
                if limit is not None:
                    assert report.last_price <= limit if ticket.side == "buy" else report.last_price >= limit
                filled += report.last_quantity
                fees += report.fee
        assert fees == commission_for(filled, config)
        net += filled if ticket.side == "buy" else -filled
    mine = [p.quantity for p in broker.positions() if p.account_number == account]
    assert mine == ([net] if net else [])
