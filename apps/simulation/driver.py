"""The simulated client side: it drives the back office only through its public services and
its Celery task bodies (run in-process), as the API, the admin, beat and the workers do.

``World`` is one run's state outside the database: the venue, the clock, the accounts and
instruments it made, and what it did on purpose (malformed reports it sent). ``execute`` runs one
step; a crash injected at a fault point ends the step there, as a killed process would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.db import connection

from apps.accounts.models import TradingAccount
from apps.brokers.interface import ExecType, ExecutionReport
from apps.core import faults
from apps.core.actors import system_actor
from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument
from apps.simulation.steps import Step
from apps.simulation.venue import SimVenue

SYMBOLS = {"ACME": Decimal("100.00"), "BOLT": Decimal("20.00")}
ACCOUNTS = 3
OPENING_CASH = Decimal("60000")
TICK = Decimal("0.01")


@dataclass
class World:
    venue: SimVenue
    shift: Callable[[float], None]  # moves the clock forward by seconds
    now: Callable[[], datetime]
    accounts: list[TradingAccount] = field(default_factory=list)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    expected_dead: set[str] = field(default_factory=set)
    restricted: dict[str, int] = field(default_factory=dict)  # symbol -> restriction id
    outage_left: int = 0
    index: int = 0


def reset_database() -> None:
    """Empty every table (sequences restarted, so ids repeat run after run) and restore the
    reference data the migrations create."""
    from apps.ledger.currencies import currencies_ensure
    from apps.risk.defaults import firm_limits_ensure
    from apps.users.roles import roles_ensure

    call_command("flush", interactive=False, verbosity=0)
    currencies_ensure()
    roles_ensure()
    firm_limits_ensure()
    system_actor()


def setup(world: World) -> None:
    from apps.accounts.services import trading_account_create
    from apps.instruments.services import instrument_create, reference_price_set
    from apps.ledger.services import cash_deposit
    from apps.risk.services import risk_limits_set

    actor = system_actor()
    for symbol, price in SYMBOLS.items():
        instrument = instrument_create(
            actor=actor, symbol=symbol, name=symbol.title(), currency="USD", tick_size="0.01", lot_size="1"
        )
        reference_price_set(actor=actor, instrument=instrument, price=price)
        world.instruments[symbol] = instrument
        world.venue.prices[symbol] = price
    risk_limits_set(actor=actor, max_orders_per_second=1000, max_price_age_seconds=10**7)
    for i in range(ACCOUNTS):
        account = trading_account_create(actor=actor, name=f"Sim client {i}", base_currency="USD")
        cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount=OPENING_CASH, idempotency_key=f"open-{i}"
        )
        world.accounts.append(account)


def execute(world: World, step: Step) -> str:
    """Run one step; returns what happened, for the trace."""
    rng = random.Random(step.salt)
    world.venue.reseed(step.salt)
    world.shift(rng.uniform(0.5, 20))
    if world.outage_left:
        world.outage_left -= 1
        world.venue.down = world.outage_left > 0
    passed = [0]

    def injector(name: str) -> None:
        passed[0] += 1
        if passed[0] == step.crash:
            raise faults.InjectedCrash(name)

    try:
        with faults.injecting(injector):
            return ACTIONS[step.kind](world, rng)
    except faults.InjectedCrash as crash:
        if connection.in_atomic_block:  # pragma: no cover - atomic blocks roll back on the way out
            raise RuntimeError("a crash left a transaction open") from crash
        return f"crashed at {crash.point}"
    except ApplicationError as exc:
        return f"refused: {exc.code}"


# --- client actions ------------------------------------------------------------------------


def _open_orders(statuses: tuple[str, ...] = ("new", "partially_filled", "pending_new")) -> list[Any]:
    from apps.orders.models import Order

    return list(Order.objects.filter(status__in=statuses).order_by("pk"))


def _price_near(world: World, rng: random.Random, symbol: str, spread: float) -> Decimal:
    ref = world.venue.prices[symbol]
    move = Decimal(str(round(rng.uniform(-spread, spread), 4)))
    return max((ref * (1 + move)).quantize(TICK), TICK)


def place(world: World, rng: random.Random) -> str:
    from apps.orders.placement import order_place

    symbol = rng.choice(sorted(world.instruments))
    side = "buy" if rng.random() < 0.65 else "sell"
    kind = rng.choices(["market", "limit", "stop", "stop_limit"], [25, 50, 12, 13])[0]
    tif = rng.choices(["day", "gtc", "ioc", "fok"], [40, 40, 10, 10])[0]
    limit = _price_near(world, rng, symbol, 0.03) if kind in ("limit", "stop_limit") else None
    stop = None
    if kind in ("stop", "stop_limit"):
        away = Decimal(str(round(rng.uniform(0.002, 0.03), 4)))
        ref = world.venue.prices[symbol]
        stop = (ref * (1 + away if side == "buy" else 1 - away)).quantize(TICK)
    order = order_place(
        actor=system_actor(),
        account=rng.choice(world.accounts),
        symbol=symbol,
        side=side,
        type=kind,
        quantity=rng.randint(1, 20),
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        client_order_id=f"sim-{world.index}",
    )
    return f"order {order.pk} {order.status}" + (f" ({order.reject_reason})" if order.reject_reason else "")


def replace(world: World, rng: random.Random) -> str:
    from apps.orders.services import order_replace

    orders = _open_orders(("new", "partially_filled"))
    if not orders:
        return "nothing to replace"
    order = rng.choice(orders)
    quantity = max(order.filled_quantity + 1, order.quantity + rng.randint(-5, 8))
    limit = None
    if order.limit_price is not None and rng.random() < 0.6:
        limit = _price_near(world, rng, order.instrument.symbol, 0.03)
    replaced = order_replace(actor=system_actor(), order_id=order.pk, quantity=quantity, limit_price=limit)
    return f"order {replaced.pk} {replaced.status}"


def cancel(world: World, rng: random.Random) -> str:
    from apps.orders.services import order_cancel

    orders = _open_orders(("new", "partially_filled", "pending_new", "pending_replace"))
    if not orders:
        return "nothing to cancel"
    order = order_cancel(actor=system_actor(), order_id=rng.choice(orders).pk)
    return f"order {order.pk} {order.status}"


def deposit(world: World, rng: random.Random) -> str:
    from apps.ledger.services import cash_deposit

    amount = Decimal(rng.randint(100, 20000))
    account = rng.choice(world.accounts)
    cash_deposit(
        actor=system_actor(), trading_account=account, currency="USD", amount=amount, idempotency_key=f"d{world.index}"
    )
    return f"deposited {amount}"


def withdraw(world: World, rng: random.Random) -> str:
    from apps.ledger.services import cash_withdraw

    amount = Decimal(rng.randint(100, 30000))
    account = rng.choice(world.accounts)
    cash_withdraw(
        actor=system_actor(), trading_account=account, currency="USD", amount=amount, idempotency_key=f"w{world.index}"
    )
    return f"withdrew {amount}"


def price(world: World, rng: random.Random) -> str:
    from apps.instruments.services import reference_price_set

    symbol = rng.choice(sorted(world.instruments))
    new = _price_near(world, rng, symbol, 0.02)
    reference_price_set(actor=system_actor(), instrument=world.instruments[symbol], price=new)
    world.venue.prices[symbol] = new
    triggered = world.venue.trigger_stops()
    return f"{symbol} {new} ({len(triggered)} stop fills)"


def kill_switch(world: World, rng: random.Random) -> str:
    from apps.risk.services import kill_switch_set

    account = rng.choice(world.accounts)
    if rng.random() < 0.5:
        result = kill_switch_set(
            actor=system_actor(), state="halted", reason="simulated halt", account=account, cancel_open_orders=True
        )
        return f"halted account {account.pk}, {len(result.canceled)} cancels"
    kill_switch_set(actor=system_actor(), state="active", reason="simulated resume", account=account)
    return f"resumed account {account.pk}"


def trading_state(world: World, rng: random.Random) -> str:
    from apps.risk.services import trading_state_set

    state = rng.choice(["active", "active", "reducing"])
    account = rng.choice(world.accounts)
    trading_state_set(actor=system_actor(), state=state, reason="simulated", account=account)
    return f"account {account.pk} {state}"


def restrict(world: World, rng: random.Random) -> str:
    from apps.risk.services import restricted_instrument_add, restricted_instrument_remove

    symbol = rng.choice(sorted(world.instruments))
    if symbol in world.restricted:
        restricted_instrument_remove(actor=system_actor(), restriction_id=world.restricted.pop(symbol))
        return f"{symbol} unrestricted"
    row = restricted_instrument_add(actor=system_actor(), instrument=world.instruments[symbol], reason="simulated")
    world.restricted[symbol] = row.pk
    return f"{symbol} restricted"


# --- periodic jobs (the Celery task bodies, in-process) ------------------------------------


def relay(world: World, rng: random.Random) -> str:
    from apps.brokers.tasks import relay_task

    return f"relayed {relay_task()}"


def poll(world: World, rng: random.Random) -> str:
    from apps.brokers.tasks import poll_task

    return f"polled {poll_task()}"


def resync(world: World, rng: random.Random) -> str:
    from apps.brokers.tasks import resync_task

    return f"resynced {resync_task()}"


def session_close(world: World, rng: random.Random) -> str:
    """The clock moves past the next session close; the venue may expire its DAY orders before
    our expiry job runs, or after."""
    from apps.orders.calendar import close_on, is_trading_day
    from apps.orders.tasks import expire_day_orders_task

    now = world.now()
    day = now.date()
    while not is_trading_day(day) or close_on(day) <= now:
        day += timedelta(days=1)
    world.shift((close_on(day) - now).total_seconds() + 60)
    venue_first = rng.random() < 0.5
    expired = len(world.venue.expire_day_orders()) if venue_first else 0
    ours = expire_day_orders_task()
    if not venue_first:
        expired = len(world.venue.expire_day_orders())
    return f"session closed: venue expired {expired}, we expired {ours}"


def sequencers(world: World, rng: random.Random) -> str:
    from apps.ledger.tasks import sequence_task
    from apps.orders.tasks import sequence_events_task

    return f"sequenced {sequence_task()} transactions, {sequence_events_task()} events"


def reconcile(world: World, rng: random.Random) -> str:
    from apps.compliance.tasks import reconcile_task

    result = reconcile_task()
    return f"reconciled: {result.get('breaks', result.get('differences', '?'))}"


# --- the venue and the clock ----------------------------------------------------------------


def venue_fill(world: World, rng: random.Random) -> str:
    working = world.venue.working()
    if not working:
        return "nothing to fill"
    order = rng.choice(working)
    reports = world.venue.fill_some(order.ticket.order_id, forced=rng.random() < 0.5)
    return f"venue filled {sum(r.last_quantity for r in reports)} of order {order.ticket.order_id}"


def venue_answer(world: World, rng: random.Random) -> str:
    reports = world.venue.answer_deferred(rng.randrange(1000))
    return "venue answered " + (", ".join(f"{r.order_id}:{r.exec_type}" for r in reports) or "nothing")


def venue_cancel(world: World, rng: random.Random) -> str:
    working = world.venue.working()
    if not working:
        return "nothing to cancel"
    order = rng.choice(working)
    world.venue.cancel_unsolicited(order.ticket.order_id)
    return f"venue canceled order {order.ticket.order_id}"


def venue_restart(world: World, rng: random.Random) -> str:
    lost = len(world.venue.unacked)
    world.venue.restart()
    return f"venue restarted ({lost} undelivered reports now only in its book)"


def venue_outage(world: World, rng: random.Random) -> str:
    world.outage_left = rng.randint(3, 25)
    world.venue.down = True
    return f"venue down for {world.outage_left} steps"


def venue_garbage(world: World, rng: random.Random) -> str:
    """A malformed report (an exec id longer than any venue's, a fill without a price): it must
    become a visible, replayable dead letter, and change nothing else."""
    orders = _open_orders()
    if not orders:
        return "no order to garble"
    order = rng.choice(orders)
    report = ExecutionReport(
        exec_id="G" * 200 if rng.random() < 0.5 else f"GARBLED-{world.index}",
        order_id=order.pk,
        exec_type=ExecType.PARTIAL_FILL,
        last_quantity=Decimal(1),
        last_price=None,
    )
    from apps.brokers.intake import receive, report_key

    world.expected_dead.add(report_key(report))
    return f"garbled report for order {order.pk}: {receive(world.venue.name, report)}"


def tick(world: World, rng: random.Random) -> str:
    seconds = rng.uniform(60, 400)  # backoffs elapse, stale claims are found, circuits half-open
    world.shift(seconds)
    return f"clock +{seconds:.0f}s"


ACTIONS: dict[str, Callable[[World, random.Random], str]] = {
    f.__name__: f
    for f in (
        place,
        replace,
        cancel,
        deposit,
        withdraw,
        price,
        kill_switch,
        trading_state,
        restrict,
        relay,
        poll,
        resync,
        session_close,
        sequencers,
        reconcile,
        venue_fill,
        venue_answer,
        venue_cancel,
        venue_restart,
        venue_outage,
        venue_garbage,
        tick,
    )
}
