"""The venue simulation's auditor over a FIX campaign: seeded random clients (orders of every
type and time in force, cancels, replaces), price moves, and the venue's faults (dropped
connections, sequence gaps, PossDup repeats, held and reordered reports, rejections,
unsolicited cancels), over a real session, in real time. At quiescence the auditor
(``apps.simulation.auditor``, unchanged) checks the same invariants as for the paper broker,
against the FIX venue's own truth: every execution it made, its book.

CI runs a bounded campaign; a long one:
``FIX_CAMPAIGN_SEEDS=20 FIX_CAMPAIGN_STEPS=200 make test-fix-campaign``.
"""

from __future__ import annotations

import os
import random
from decimal import Decimal

import pytest

from apps.brokers.interface import ExecType, ExecutionReport
from apps.brokers.models import AccountRoute, InstructionStatus, OrderInstruction
from apps.core.errors import ApplicationError
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.orders.models import Order
from apps.orders.placement import order_place
from apps.orders.services import order_cancel, order_replace
from apps.orders.state import OPEN
from apps.simulation.auditor import VenueOrderView, audit
from plugins.fix44.gateway import Gateway
from plugins.fix44.mapping import order_id_of
from plugins.fix44.models import InboundReport
from plugins.fix44.venue import Venue
from plugins.fix44.venue_book import WORKING
from tests.plugins.fix44.test_gateway import eventually, free_port, prices

pytestmark = pytest.mark.django_db(transaction=True)

START = int(os.environ.get("FIX_CAMPAIGN_START", "1"))
SEEDS = int(os.environ.get("FIX_CAMPAIGN_SEEDS", "2"))
STEPS = int(os.environ.get("FIX_CAMPAIGN_STEPS", "50"))
ACTIVE = [InstructionStatus.PENDING, InstructionStatus.IN_FLIGHT, InstructionStatus.UNKNOWN]


class FixTruth:
    """The local FIX venue's truth for the auditor: its executions and its book; a report is
    handed over for good once the host acknowledged it in the gateway's journal."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def reports(self) -> list[ExecutionReport]:
        return [
            ExecutionReport(
                exec_id=t["exec_id"],
                order_id=order_id_of(t["cl_ord_id"]),
                exec_type=ExecType.PARTIAL_FILL,
                last_quantity=Decimal(t["quantity"]),
                last_price=Decimal(t["price"]),
                fee=Decimal(t["fee"]),
            )
            for t in self.venue.book.trades()
        ]

    def acknowledged(self) -> set[str]:
        acked = InboundReport.objects.filter(session="fix44", acknowledged_at__isnull=False)
        return set(acked.values_list("exec_id", flat=True))

    def book(self) -> dict[int, VenueOrderView]:
        views = {}
        for order in self.venue.book.orders():
            order_id = order_id_of(order.cl_ord_ids[0])
            views[order_id] = VenueOrderView(order_id, order.cumulative_quantity, order.status in WORKING)
        return views


class Campaign:
    def __init__(self, seed: int, venue: Venue, accounts: list, instrument, actor) -> None:  # type: ignore[no-untyped-def]
        self.rng = random.Random(seed)
        self.venue, self.accounts, self.instrument, self.actor = venue, accounts, instrument, actor
        self.price = Decimal("100.00")
        self.held_for = 0
        self.trace: list[str] = []

    def open_orders(self) -> list[Order]:
        return list(Order.objects.filter(broker="fix44", status__in=[s.value for s in OPEN]).order_by("pk"))

    def place(self, kind: str = "") -> None:
        rng = self.rng
        kind = kind or rng.choice(["market", "limit", "limit", "stop", "stop_limit"])
        side = rng.choice(["buy", "buy", "buy", "sell"]) if kind != "market" or self.trace else "buy"
        tif = rng.choice(["day", "gtc", "ioc", "fok"]) if kind in ("market", "limit") else rng.choice(["day", "gtc"])
        if kind == "market" and tif == "gtc":
            tif = "day"
        off = Decimal(rng.randint(-300, 300)) / 100
        terms: dict[str, object] = {"quantity": str(rng.randint(1, 30))}
        if kind in ("limit", "stop_limit"):
            terms["limit_price"] = str(max(self.price + off, Decimal("1.00")))
        if kind in ("stop", "stop_limit"):
            direction = 1 if side == "buy" else -1
            terms["stop_price"] = str(max(self.price + direction * abs(off), Decimal("1.00")))
        try:
            order = order_place(
                actor=self.actor,
                account=rng.choice(self.accounts),
                symbol="ACME",
                side=side,
                type=kind,
                time_in_force=tif,
                client_order_id=f"c{rng.getrandbits(40):x}",
                **terms,
            )
            self.trace.append(f"place {order.pk} {side} {kind} {tif} {terms}: {order.status}")
        except ApplicationError as exc:
            self.trace.append(f"place refused: {exc.code}")

    def step(self) -> None:
        rng, venue = self.rng, self.venue
        action = rng.choices(
            ["place", "cancel", "replace", "price", "drop", "gap", "dup", "hold", "reject", "venue_cancel"],
            weights=[40, 8, 8, 20, 1, 3, 4, 2, 4, 3],
        )[0]
        open_orders = self.open_orders()
        try:
            if action == "place":
                self.place()
            elif action == "cancel" and open_orders:
                order_cancel(actor=self.actor, order_id=rng.choice(open_orders).pk)
            elif action == "replace" and open_orders:
                order = rng.choice(open_orders)
                order_replace(actor=self.actor, order_id=order.pk, quantity=str(order.quantity + rng.randint(-2, 5)))
            elif action == "price":
                self.price = max(self.price + Decimal(rng.randint(-150, 150)) / 100, Decimal("5.00"))
                reference_price_set(actor=self.actor, instrument=self.instrument, price=str(self.price))
            elif action == "drop":
                venue.drop_connection()
            elif action == "gap":
                venue.skip_sequence_numbers(rng.randint(1, 5))
            elif action == "dup":
                venue.duplicate_next_report()
            elif action == "hold" and not self.held_for:
                venue.hold_reports()
                self.held_for = rng.randint(1, 4)
            elif action == "reject":
                venue.reject_next(rng.choice(["new", "cancel", "replace"]))
            elif action == "venue_cancel" and venue.book.working():
                venue.cancel_unsolicited(rng.choice(venue.book.working()).cl_ord_id)
            self.trace.append(action)
        except ApplicationError as exc:
            self.trace.append(f"{action} refused: {exc.code}")
        if self.held_for:
            self.held_for -= 1
            if not self.held_for:
                venue.release_reports(reverse=True)


def settled(venue: Venue) -> bool:
    if OrderInstruction.objects.filter(broker="fix44", status__in=ACTIVE).exists():
        return False
    if InboundReport.objects.filter(acknowledged_at__isnull=True).exists():
        return False
    ours = set(Order.objects.filter(broker="fix44", status__in=[s.value for s in OPEN]).values_list("pk", flat=True))
    theirs = {order_id_of(o.cl_ord_ids[0]) for o in venue.book.working()}
    return ours == theirs


@pytest.mark.parametrize("seed", range(START, START + SEEDS))
def test_the_auditor_finds_nothing_after_a_fix_campaign(seed, settings, tmp_path, make_account, instrument, actor):
    port = free_port()
    settings.BROKERS = {
        **settings.BROKERS,
        "fix44": {
            "port": str(port),
            "data_dir": str(tmp_path / "gateway"),
            "heartbeat_seconds": "1",
            "reconnect_seconds": "1",
            "answer_timeout_seconds": "3",
        },
    }
    settings.BROKERS_RELAY_STALE_SECONDS = 5
    settings.BROKERS_RELAY_WAKE_SECONDS = 0.2
    settings.BROKERS_CIRCUIT_COOLDOWN_SECONDS = 1
    accounts = []
    for n in range(3):
        account = make_account()
        AccountRoute.objects.create(account=account, broker="fix44")
        ledger.cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount="1000000", idempotency_key=f"c{n}"
        )
        accounts.append(account)
    venue = Venue(port=port, data_dir=tmp_path / "venue", markets=prices, sweep_seconds=0.1)
    venue.start()
    fatal: list[BaseException] = []
    gateway = Gateway("fix44", on_fatal=fatal.append)
    gateway.start()
    campaign = Campaign(seed, venue, accounts, instrument, actor)
    try:
        eventually(gateway.link.logged_on.is_set)
        campaign.place(kind="market")  # at least one execution, whatever the seed draws
        for _ in range(STEPS):
            campaign.step()
        if campaign.held_for:
            venue.release_reports(reverse=True)
        eventually(lambda: settled(venue), timeout=90)
        violations = audit(FixTruth(venue), "fix44", quiescent=True)
        problems = list(InboundReport.objects.exclude(problem="").values_list("problem", "raw"))
    finally:
        gateway.stop()
        venue.stop()
    trades = venue.book.trades()
    assert fatal == []
    detail = [f"seed {seed}:", *map(str, violations), "unmapped:", *map(str, problems), "trace:", *campaign.trace]
    assert violations == [], "\n".join(detail)
    assert len(trades) > 0, "the campaign executed nothing: it proves nothing"
