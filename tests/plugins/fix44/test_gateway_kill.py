"""The gateway killed (SIGKILL) mid-flow and restarted: nothing lost, nothing booked twice.

The gateway is the real process (``manage.py fix_gateway``) on the test database; the venue is
the local FIX venue in this process. Orders (market and resting limits, with price moves) go
out while the gateway is killed twice, at different moments: right after a burst of orders
(instructions claimed, requests in flight) and while the venue's fills are being received and
booked. At the end our book must be the venue's: every order ended or working as the venue
says, one Fill per venue execution and none without one, each order's filled quantity the
venue's CumQty, the ledger verified. Instructions a killed gateway had claimed stay in flight
until ``BROKERS_RELAY_STALE_SECONDS`` and are then resolved by asking the venue (order_status).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from apps.brokers.models import AccountRoute, ExecutionReportRecord, InstructionStatus, OrderInstruction
from apps.instruments.services import reference_price_set
from apps.ledger import services as ledger
from apps.ledger.verification import verify
from apps.orders.models import Fill, Order
from apps.orders.state import OPEN
from plugins.fix44.mapping import order_id_of
from plugins.fix44.models import InboundReport
from plugins.fix44.venue import Venue
from plugins.fix44.venue_book import CANCELED, EXPIRED, FILLED, NEW, PARTIAL, REJECTED, WORKING
from plugins.paper.config import PaperSettings
from tests.plugins.fix44.test_gateway import eventually, free_port, place, prices
from tests.workers import BASE_DIR, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)

STALE_SECONDS = 3
ACTIVE = [InstructionStatus.PENDING, InstructionStatus.IN_FLIGHT, InstructionStatus.UNKNOWN]
OURS = {NEW: "new", PARTIAL: "partially_filled", FILLED: "filled", CANCELED: "canceled", REJECTED: "rejected"}
OURS[EXPIRED] = "expired"


class GatewayProcess:
    """``manage.py fix_gateway`` as a subprocess; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "fix_gateway"], cwd=BASE_DIR, env=self.env, stdout=out, stderr=out
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None and self.alive(), self.tail()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def booked_exec_ids() -> set[str]:
    return set(Fill.objects.filter(broker="fix44").values_list("exec_id", flat=True))


def settled(venue: Venue) -> bool:
    if OrderInstruction.objects.filter(broker="fix44", status__in=ACTIVE).exists():
        return False
    if InboundReport.objects.filter(acknowledged_at__isnull=True).exists():
        return False
    ours = Order.objects.filter(broker="fix44", status__in=[s.value for s in OPEN])
    theirs = {order_id_of(o.cl_ord_ids[0]) for o in venue.book.working()}
    return set(ours.values_list("pk", flat=True)) == theirs


def test_a_gateway_killed_twice_mid_flow_loses_nothing_and_books_nothing_twice(
    settings, tmp_path, account, actor, instrument
):
    port = free_port()
    gateway_dir = tmp_path / "gateway"
    settings.BROKERS = {
        **settings.BROKERS,
        "fix44": {"port": str(port), "data_dir": str(gateway_dir), "heartbeat_seconds": "1", "reconnect_seconds": "1"},
    }
    settings.BROKERS_RELAY_STALE_SECONDS = STALE_SECONDS
    AccountRoute.objects.create(account=account, broker="fix44")
    ledger.cash_deposit(actor=actor, trading_account=account, currency="USD", amount="1000000", idempotency_key="k")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
        "FIX44_ENABLED": "true",
        "FIX44_PORT": str(port),
        "FIX44_DATA_DIR": str(gateway_dir),
        "FIX44_HEARTBEAT_SECONDS": "1",
        "FIX44_RECONNECT_SECONDS": "1",
        "FIX44_ANSWER_TIMEOUT_SECONDS": "3",
        "BROKERS_RELAY_WAKE_SECONDS": "0.2",
        "BROKERS_RELAY_STALE_SECONDS": str(STALE_SECONDS),
        "BROKERS_CIRCUIT_COOLDOWN_SECONDS": "1",
    }
    # Partial fills (at most 3 per evaluation) so that CumQty grows over several reports.
    venue = Venue(
        port=port,
        data_dir=tmp_path / "venue",
        markets=prices,
        settings=PaperSettings(partial_fill_quantity=Decimal(3)),
        sweep_seconds=0.1,
    ).start()
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    orders: list[Order] = []
    price = Decimal("100.00")

    def up() -> None:
        gateway.start()
        eventually(lambda: venue.is_logged_on() or not gateway.alive(), timeout=30)
        assert gateway.alive(), gateway.tail()

    def move(to: str) -> None:
        nonlocal price
        price = Decimal(to)
        reference_price_set(actor=actor, instrument=instrument, price=to)

    def buy(n: int) -> Order:
        if n % 3 == 0:
            order = place(actor, account, quantity=str(2 + n % 5))
        else:  # resting below the price; later moves fill some of them
            limit = price - Decimal("0.50") * (1 + n % 4)
            order = place(actor, account, type="limit", limit_price=str(limit), quantity=str(4 + n % 5))
        orders.append(order)
        return order

    try:
        up()
        for n in range(8):
            buy(n)
        move("99.40")
        venue.hold_reports()  # the venue works the next orders but its answers wait
        for n in range(8, 12):  # a burst; the gateway dies while it waits for the answers
            buy(n)
        in_flight = OrderInstruction.objects.filter(broker="fix44", status=InstructionStatus.IN_FLIGHT)
        eventually(lambda: in_flight.exists() and venue.held_count() > 0)
        gateway.kill()
        eventually(lambda: not venue.is_logged_on())
        venue.release_reports(reverse=True)  # into the venue's store: resent after the next logon
        for n in range(12, 15):  # placed while no gateway runs: they wait in the outbox
            buy(n)
        up()
        eventually(lambda: len(venue.book.orders()) >= 12, timeout=20)
        for n in range(15, 22):
            buy(n)
        eventually(lambda: len(venue.book.orders()) == 22, timeout=20)
        journaled = InboundReport.objects.filter(raw__contains="\x01150=F\x01").count()
        move("98.20")  # fills several resting limits, in parts: kill while they are received
        eventually(lambda: InboundReport.objects.filter(raw__contains="\x01150=F\x01").count() > journaled)
        gateway.kill()
        move("97.80")  # more fills while the gateway is down: the venue keeps them for the resend
        up()
        for n in range(22, 30):
            buy(n)
        eventually(lambda: len(venue.book.orders()) == 30, timeout=20)
        executed = len(venue.book.trades())
        move("97.00")
        eventually(lambda: len(venue.book.trades()) > executed)
        move("110.00")  # no buy limit executes any more: from the next evaluation on, which
        venue.sweep()  # this one is; once it returns, the venue's executions are final
        final = {t["exec_id"] for t in venue.book.trades()}
        try:
            eventually(lambda: settled(venue) and final <= booked_exec_ids(), timeout=40)
        except AssertionError:
            pytest.fail(f"not booked: {sorted(final - booked_exec_ids())}; gateway log:\n{gateway.tail()}")
        assert gateway.alive(), gateway.tail()
    finally:
        gateway.stop()
        venue.stop()

    trades = venue.book.trades()
    assert {t["exec_id"] for t in trades} == final
    assert len(orders) == 30 and len(trades) > len(orders)  # partial fills: more executions than orders
    booked = list(Fill.objects.filter(broker="fix44").values_list("exec_id", flat=True))
    assert sorted(booked) == sorted(t["exec_id"] for t in trades)  # one Fill per execution, none without one
    by_cl_ord_id = {o.cl_ord_ids[0]: o for o in venue.book.orders()}
    working = 0
    for order in orders:
        order.refresh_from_db()
        theirs = by_cl_ord_id.get(str(order.pk))
        assert theirs is not None, f"order {order.pk} never reached the venue"
        assert order.status == OURS[theirs.status], (order.pk, order.status, theirs.status)
        assert order.filled_quantity == theirs.cumulative_quantity, order.pk
        working += theirs.status in WORKING
    assert 0 < working < len(orders)  # some still rest, as the venue says
    assert not ExecutionReportRecord.objects.filter(broker="fix44", status="dead").exists()
    # The kills did what they were meant to: a claimed instruction was left in flight (resolved by
    # asking, after the stale delay), and reports the venue sent meanwhile came by its resend.
    assert OrderInstruction.objects.filter(broker="fix44", maybe_delivered=True).exists()
    assert InboundReport.objects.filter(poss_dup=True).exists()
    assert not OrderInstruction.objects.filter(broker="fix44").exclude(status=InstructionStatus.DONE).exists()
    report = verify()
    assert report.ok, report.problems
