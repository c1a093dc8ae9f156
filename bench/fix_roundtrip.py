"""``make bench-fix``: the order round trip over the local FIX session. Figures only.

On the bench database (``bench_backoffice``, recreated): the local FIX venue in this process,
the FIX gateway in its own (``manage.py fix_gateway``, as deployed), QuickFIX on both ends
over TCP on 127.0.0.1; orders placed through the order service in this process.

1. **round trip**: ``--sequential`` market orders, one at a time, each timed from the service
   call to its fill booked (outbox NOTIFY -> the gateway's relay -> NewOrderSingle -> venue ->
   ExecutionReports -> journal -> intake -> ledger). Percentiles.
2. **burst**: ``--burst`` market orders placed as fast as one thread can, then the time until
   the last is filled and booked, as orders per second.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fix_roundtrip", description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=200, help="orders timed one at a time (default 200)")
    parser.add_argument("--burst", type=int, default=500, help="orders in the end-to-end burst (default 500)")
    args = parser.parse_args(argv)

    from bench import database, trade

    database.recreate_database()
    database.django_setup()
    database.migrate()
    import subprocess

    from django.db import connection
    from django.utils import timezone

    from apps.brokers.models import AccountRoute
    from apps.orders.models import Order
    from plugins.fix44.venue import Venue
    from plugins.paper.config import PaperSettings
    from plugins.paper.market import market_get

    fixtures = trade.create(accounts=20, symbols=5)
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-fix-"))
    for account_id in fixtures.accounts:
        AccountRoute.objects.create(account_id=account_id, broker="fix44")

    def prices(symbol: str):  # type: ignore[no-untyped-def]
        return market_get(symbol, now=timezone.now(), settings=PaperSettings())

    venue = Venue(port=port, data_dir=data / "venue", markets=prices, sweep_seconds=0.2)
    venue.start()
    env = {**os.environ, "FIX44_ENABLED": "true", "FIX44_PORT": str(port), "FIX44_DATA_DIR": str(data / "gw")}
    gateway = subprocess.Popen([sys.executable, "manage.py", "fix_gateway"], env=env, stdout=subprocess.DEVNULL)
    place = trade.placer(fixtures.actor_id, fixtures.accounts, market=True, seed=1)

    def filled(prefix: str, count: int) -> bool:
        return Order.objects.filter(client_order_id__startswith=prefix, status="filled").count() >= count

    try:
        if not _wait(venue.is_logged_on, 60):
            print("the gateway did not log on", file=sys.stderr)
            return 1
        for n in range(20):  # warm-up
            place(f"fixwarm-{n}")
        _wait(lambda: filled("fixwarm-", 20), 60)
        times = []
        placed_times: list[float] = []
        for n in range(args.sequential):
            began = time.perf_counter()
            order = place(f"fixseq-{n}")
            placed_times.append((time.perf_counter() - began) * 1000)
            _wait(lambda o=order: Order.objects.filter(pk=o.pk, status="filled").exists(), 30)
            times.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        for n in range(args.burst):
            place(f"fixbench-{n}")
        placed = time.perf_counter() - began
        finished = _wait(lambda: filled("fixbench-", args.burst), 300)
        total = time.perf_counter() - began
        connection.close()
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        venue.stop()
    print(f"FIX round trip, order placed -> filled and booked, {len(times)} market orders one at a time:")
    print(
        f"  p50 {statistics.median(times):.1f} ms, p90 {_percentile(times, 0.9):.1f} ms, "
        f"p99 {_percentile(times, 0.99):.1f} ms, max {max(times):.1f} ms"
    )
    print(f"  of which placement: p50 {statistics.median(placed_times):.1f} ms")
    state = "filled and booked" if finished else "NOT all filled within 300 s"
    print(f"Burst over FIX: {args.burst} market orders placed in {placed:.2f} s, {state} after {total:.2f} s")
    print(f"  {args.burst / total:.0f} orders/s (one placing thread, one gateway process, cpus: {os.cpu_count()})")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
