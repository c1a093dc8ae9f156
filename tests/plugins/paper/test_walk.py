"""The seeded random walk (tick size, reproducibility, the task and the command), and the
determinism of the whole venue under a seed: two runs give identical reports."""

from __future__ import annotations

from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import call_command

from apps.brokers.interface import ExecType, OrderTicket
from apps.instruments.models import ReferencePrice
from apps.instruments.services import instrument_create, reference_price_set
from plugins.paper.adapter import PaperBroker
from plugins.paper.config import PaperSettings
from plugins.paper.models import PaperOrder, PaperWalkState
from plugins.paper.tasks import random_walk_task
from plugins.paper.walk import SOURCE, next_price, random_walk
from tests.plugins.paper.conftest import T0, Clock
from tests.plugins.paper.test_simulator import limit

pytestmark = pytest.mark.django_db


def path(seed, symbol, price, tick, max_bps, steps):
    out = []
    for step in range(1, steps + 1):
        price = next_price(seed=seed, step=step, symbol=symbol, price=price, tick=tick, max_bps=max_bps)
        out.append(price)
    return out


def test_next_price_is_pinned_for_a_seed():
    assert path(42, "ACME", D("100.00"), D("0.01"), D(50), 5) == [
        D(p) for p in ("99.87", "100.30", "99.91", "100.39", "100.89")
    ]
    assert path(42, "WALK", D("20.00"), D("0.05"), D(100), 5) == [
        D(p) for p in ("20.15", "20.35", "20.15", "20.05", "20.25")
    ]


@pytest.mark.parametrize("tick", ["0.05", "0.25", "1", "0.0001"])
def test_every_step_is_on_the_tick_grid_within_the_bound_and_positive(tick):
    tick_size, price = D(tick), D(tick) * 7
    for step in range(1, 300):
        new = next_price(seed=7, step=step, symbol="X", price=price, tick=tick_size, max_bps=D(500))
        bound = max((price * D(500) / 10_000 // tick_size), 1) * tick_size
        assert new % tick_size == 0 and new >= tick_size
        assert abs(new - price) <= bound
        price = new


def test_another_seed_takes_another_path():
    assert path(1, "ACME", D("100.00"), D("0.01"), D(50), 10) != path(2, "ACME", D("100.00"), D("0.01"), D(50), 10)


@pytest.fixture
def market(actor):
    walk = instrument_create(actor=actor, symbol="WALK", name="Walk", currency="USD", tick_size="0.05", lot_size="1")
    acme = instrument_create(actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1")
    instrument_create(actor=actor, symbol="NOPX", name="No price", currency="USD", tick_size="0.01", lot_size="1")
    halted = instrument_create(
        actor=actor, symbol="HALT", name="Halted", currency="USD", tick_size="0.01", lot_size="1", active=False
    )
    for instrument, price in ((walk, "20.00"), (acme, "100.00"), (halted, "5.00")):
        reference_price_set(actor=actor, instrument=instrument, price=price, as_of=T0)
    return {"WALK": walk, "ACME": acme}


def prices():
    return {ref.instrument.symbol: ref.price for ref in ReferencePrice.objects.select_related("instrument")}


def test_random_walk_moves_the_reference_prices_reproducibly(market):
    settings = PaperSettings(seed=42, random_walk_max_bps=D(100))
    moves = random_walk(settings=settings, steps=5, now=T0)
    assert [m.new for m in moves if m.symbol == "WALK"] == [D(p) for p in ("20.15", "20.35", "20.15", "20.05", "20.25")]
    assert {m.symbol for m in moves} == {"ACME", "WALK"}  # no price, or not trading: left alone
    assert prices()["HALT"] == D("5.00")
    assert ReferencePrice.objects.get(instrument__symbol="WALK").source == SOURCE
    assert PaperWalkState.objects.get(seed=42).step == 5
    # The counter continues the path: steps 6 and 7 now, whatever was run before.
    more = random_walk(settings=settings, steps=2, now=T0)
    assert [m.step for m in more] == [6, 6, 7, 7]


def test_the_same_seed_from_the_same_prices_gives_the_same_path(market, actor):
    settings = PaperSettings(seed=9, random_walk_symbols=("ACME",))
    first = random_walk(settings=settings, steps=10, now=T0)
    PaperWalkState.objects.all().delete()
    reference_price_set(actor=actor, instrument=market["ACME"], price="100.00", as_of=T0)
    assert random_walk(settings=settings, steps=10, now=T0) == first
    assert {m.symbol for m in first} == {"ACME"}


def test_the_task_is_off_unless_enabled(market, settings):
    before = prices()
    assert random_walk_task.run() == {"skipped": "random_walk is off"}
    settings.BROKERS = {}
    assert random_walk_task.run() == {"skipped": "the paper broker is not enabled"}
    assert prices() == before
    settings.BROKERS = {"paper": {"random_walk": "true", "seed": "3"}}
    assert random_walk_task.run(steps=2) == {"moves": 4, "seed": 3}
    assert prices() != before


def test_the_command_takes_steps_with_a_seed(market):
    out = StringIO()
    call_command("paper_random_walk", steps=2, seed=42, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "step 1 WALK: 20 -> 20.05"  # the default largest move, 50 bps: two ticks
    assert len(lines) == 4


def scenario(clock: Clock) -> list:
    """Orders of every kind, ten steps of the walk, a poll after each: every report produced."""
    broker = PaperBroker(
        PaperSettings(seed=11, slippage_bps=D(3), partial_fill_quantity=D(40), random_walk_max_bps=D(80)), clock=clock
    )
    base = {"account_number": "DET", "symbol": "ACME", "side": "buy", "order_type": "market", "quantity": D(100)}
    tickets = [
        {"time_in_force": "gtc"},
        {"side": "sell", **limit("100.30")},
        {"order_type": "stop", "stop_price": D("100.40"), "time_in_force": "gtc"},
        {"side": "sell", **limit("99.60"), "order_type": "stop_limit", "stop_price": D("99.70")},
        {**limit("99.80")},
        {"quantity": D(40), "time_in_force": "fok"},
        {"time_in_force": "ioc"},
    ]
    reports = []
    for n, overrides in enumerate(tickets, start=1):
        ticket = OrderTicket(order_id=n, client_order_id=f"C{n}", **{**base, "time_in_force": "day", **overrides})
        reports += broker.submit(ticket)
    for _ in range(10):
        clock.tick()
        random_walk(settings=broker.settings, now=clock.now)
        reports += broker.poll()
    return reports


def test_two_runs_under_a_seed_give_identical_reports(market, actor):
    first = scenario(Clock())
    assert sum(1 for r in first if r.last_quantity) >= 8, "the scenario should fill a fair amount"
    assert ExecType.REJECTED not in {r.exec_type for r in first}
    PaperOrder.objects.all().delete()
    PaperWalkState.objects.all().delete()
    reference_price_set(actor=actor, instrument=market["ACME"], price="100.00", as_of=T0)
    reference_price_set(actor=actor, instrument=market["WALK"], price="20.00", as_of=T0)
    assert scenario(Clock()) == first
