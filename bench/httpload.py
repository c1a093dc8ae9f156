"""Single orders through REAL HTTP: ``make run``'s web server and an async httpx load generator.

The web server is the command ``scripts/run.py`` starts (gunicorn ``config.wsgi``, 2 workers x
8 threads, access log on), on a free port of 127.0.0.1, in its own process group, against the
bench database with the bench's environment (``DJANGO_DEBUG=false``; the API throttles raised
through the ``API_THROTTLE_*`` variables the settings read, see ``bench.database``), plus a hook
that sends any task to the bench's own queue (``bench.gunicorn_hooks``). It is always stopped at
the end (SIGTERM, then SIGKILL of its group).

``CLIENTS`` users, each allowed to trade on a share of the trade path's funded accounts
(``account_access_grant``), log in through ``POST /api/v1/auth/token/``; each is one httpx
client posting one-share limit buys at the reference price to ``POST /api/v1/orders/`` with its
bearer token. Two runs after a warm-up:

- closed loop: the clients send ``--http-orders`` orders, each as soon as its previous answer
  came; the rate counts accepted orders (201), latency is per request;
- open loop: orders are scheduled at a fixed ``--http-rate`` for ``OPEN_SECONDS``, whether
  earlier ones were answered or not, and each latency is measured from its *scheduled* send
  time, so that a slow server cannot hide its queueing (no coordinated omission).

CPU per accepted order by tier: web (the gunicorn process tree), PostgreSQL (every ``postgres``
process, from /proc) and the load generator (this process; it shares the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bench import report
from bench.pipeline import services_cpu, services_delta, tree_cpu
from bench.results import per_op_ms

if TYPE_CHECKING:
    import httpx

    from bench.results import Collector

BASE_DIR = Path(__file__).resolve().parent.parent
CLIENTS = 16
USER_PREFIX = "bench-http-"
PASSWORD = "bench-http-only"  # users of the throwaway bench database
WARMUP = 5
OPEN_SECONDS = 10.0
READY_SECONDS = 60.0
REQUEST_SECONDS = 30.0
#: connections one client may open (the open loop may have several of its orders in flight)
CONNECTIONS = 4


@dataclass(frozen=True)
class Trader:
    username: str
    accounts: tuple[int, ...]


def create_traders(accounts: Sequence[int], clients: int = CLIENTS) -> list[Trader]:
    """``clients`` users, each granted trade (and view) on every ``clients``-th account."""
    from django.contrib.auth.hashers import make_password

    from apps.accounts.models import TradingAccount
    from apps.accounts.services import account_access_grant
    from apps.core.actors import system_actor
    from apps.users.models import User

    actor = system_actor()
    hashed = make_password(PASSWORD)  # hashed once: the same password for every bench user
    by_id = TradingAccount.objects.in_bulk(list(accounts))
    traders = []
    for n in range(clients):
        user, _ = User.objects.get_or_create(username=f"{USER_PREFIX}{n}", defaults={"password": hashed})
        mine = tuple(accounts[n::clients]) or (accounts[n % len(accounts)],)
        for account_id in mine:
            account_access_grant(actor=actor, account=by_id[account_id], user=user, permissions=["trade"])
        traders.append(Trader(user.username, mine))
    return traders


# --- the web server ----------------------------------------------------------------------


@dataclass
class WebServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_command(port: int) -> list[str]:
    """``make run``'s web server command (``scripts/run.py``), with the bench's hook."""
    from scripts.run import _commands

    return [*_commands(port)["web server"], "--config", "python:bench.gunicorn_hooks"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # gunicorn: graceful stop
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group: any worker left
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@contextlib.contextmanager
def web_server(log: Path) -> Iterator[WebServer]:
    """The web server on the bench database, answering ``/health/``; stopped on the way out."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            web_command(port), cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = WebServer(process, port, log)
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/health/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the web server did not answer /health/; its log:\n{tail}")
            time.sleep(0.25)
        yield server
    finally:
        _stop(process)


# --- the load ----------------------------------------------------------------------------


@dataclass
class LoadRun:
    offered: float | None = None
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    #: seconds, of every request answered (accepted or refused): per request, or from the scheduled send
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: CPU seconds during the run: web (gunicorn tree), PostgreSQL, load generator
    cpu: dict[str, float | None] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.answers["201"]

    @property
    def rate(self) -> float:
        return self.accepted / self.wall_seconds if self.wall_seconds else 0.0

    def record(self, answer: str, latency: float) -> None:
        self.sent += 1
        self.answers[answer] += 1
        if answer.isdigit():
            self.latencies.append(latency)


class Client:
    """One user: an httpx client with its bearer token, posting orders on its own accounts."""

    def __init__(self, http: httpx.AsyncClient, trader: Trader, prices: Sequence[tuple[str, Decimal]], seed: int):
        self.http, self.trader, self.prices, self.rng = http, trader, prices, random.Random(seed)

    async def login(self) -> None:
        answer = await self.http.post(
            "/api/v1/auth/token/", json={"username": self.trader.username, "password": PASSWORD}
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access']}"

    async def place(self, key: str) -> str:
        """Post one order; the HTTP status, or the exception's name when none came."""
        symbol, price = self.rng.choice(self.prices)
        body = {
            "account": self.rng.choice(self.trader.accounts),
            "symbol": symbol,
            "side": "buy",
            "type": "limit",
            "quantity": "1",
            "limit_price": f"{price:f}",
            "time_in_force": "day",
            "client_order_id": key,
        }
        try:
            answer = await self.http.post("/api/v1/orders/", json=body)
        except Exception as exc:  # httpx's transport errors and timeouts: counted, not raised
            return type(exc).__name__
        return str(answer.status_code)


async def closed_loop(clients: Sequence[Client], total: int, prefix: str) -> LoadRun:
    """Every client sends its next order as soon as its previous one is answered."""
    run, numbers = LoadRun(), iter(range(total))

    async def loop(client: Client) -> None:
        for n in numbers:  # one iterator shared by every client
            began = time.perf_counter()
            answer = await client.place(f"{prefix}-{n}")
            run.record(answer, time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(loop(client) for client in clients))
    run.wall_seconds = time.perf_counter() - began
    return run


async def open_loop(clients: Sequence[Client], rate: float, seconds: float, prefix: str) -> LoadRun:
    """Orders sent at ``rate`` a second on schedule, latency from each one's scheduled time."""
    run, last = LoadRun(offered=rate), [0.0]
    start = time.perf_counter() + 0.05

    async def one(n: int, scheduled: float) -> None:
        answer = await clients[n % len(clients)].place(f"{prefix}-{n}")
        done = time.perf_counter()
        run.record(answer, done - scheduled)
        last[0] = max(last[0], done)

    tasks = []
    for n in range(max(1, round(rate * seconds))):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    await asyncio.gather(*tasks)
    run.wall_seconds = last[0] - start
    return run


def postgres_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> float | None:
    """PostgreSQL's CPU seconds between two ``services_cpu`` snapshots. A backend that ended in
    between (a web thread's connection past ``CONN_MAX_AGE``) reaches its postmaster with its whole
    life's CPU: what it had spent before the first snapshot is taken off again."""
    spent = services_delta(before, after).get("PostgreSQL")
    if spent is None:
        return None
    return spent - sum(cpu for pid, (name, cpu) in before.items() if name == "PostgreSQL" and pid not in after)


async def _measured(web_pid: int, body: Callable[[], Awaitable[LoadRun]]) -> LoadRun:
    web, services, client = tree_cpu(web_pid), services_cpu(), time.process_time()
    run = await body()
    run.cpu = {
        "web": tree_cpu(web_pid) - web,
        "postgres": postgres_delta(services, services_cpu()),
        "load_generator": time.process_time() - client,
    }
    return run


async def load(
    server: WebServer, traders: Sequence[Trader], prices: Sequence[tuple[str, Decimal]], *, orders: int, rate: float
) -> tuple[LoadRun, LoadRun]:
    import httpx

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for n, trader in enumerate(traders):
            http = httpx.AsyncClient(base_url=server.url, timeout=REQUEST_SECONDS, limits=limits)
            clients.append(Client(await stack.enter_async_context(http), trader, prices, seed=n))
        await asyncio.gather(*(client.login() for client in clients))
        await closed_loop(clients, WARMUP * len(clients), "http-warmup")
        closed = await _measured(server.process.pid, lambda: closed_loop(clients, orders, "http-closed"))
        opened = await _measured(server.process.pid, lambda: open_loop(clients, rate, OPEN_SECONDS, "http-open"))
    return closed, opened


# --- the figures -------------------------------------------------------------------------


def run(
    *,
    accounts: Sequence[int],
    prices: dict[str, Decimal],
    orders: int,
    rate: float,
    collected: Collector,
    progress: Callable[[str], None],
) -> None:
    """Both runs, their table and their figures; a failure is printed, never raised."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        print("\nHTTP runs skipped: httpx is not installed (requirements/dev.txt)")
        return
    progress(f"HTTP: {CLIENTS} users, make run's web server, {orders} orders closed loop, {rate:g}/s open loop")
    try:
        traders = create_traders(accounts)
        with tempfile.TemporaryDirectory(prefix="bench-web-") as folder, web_server(Path(folder) / "web.log") as web:
            closed, opened = asyncio.run(load(web, traders, sorted(prices.items()), orders=orders, rate=rate))
    except Exception as exc:
        print(f"\nHTTP runs FAILED: {type(exc).__name__}: {str(exc)[-2000:]}")
        return
    progress(f"HTTP closed loop: {closed.rate:.0f} orders/s; open loop at {rate:g}/s: {opened.rate:.0f} orders/s")
    rows = [
        (f"POST /api/v1/orders/ over HTTP, closed loop, {CLIENTS} clients", closed, "per request"),
        (f"POST /api/v1/orders/ over HTTP, open loop, {rate:g}/s offered", opened, "from the scheduled send"),
    ]
    print()
    print(
        f"Single orders through real HTTP: make run's gunicorn (2 workers x 8 threads), {CLIENTS} httpx clients, "
        "JWT bearer tokens, one-share limit buys"
    )
    width = max(len(name) for name, _, _ in rows)
    print(
        f"{'run':<{width}} {'sent':>6} {'rate':>14} {report.TPCB_COLUMN:>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'CPU ms/order: web':>17} {'pg':>5} {'client':>6}  answers"
    )
    for name, load_run, latency in rows:
        cpu = {tier: per_op_ms(value, load_run.accepted) for tier, value in load_run.cpu.items()}
        fig = collected.figure(
            name,
            "http",
            rate=load_run.rate,
            unit="orders/s",
            count=load_run.accepted,
            seconds=load_run.wall_seconds,
            latencies=load_run.latencies,
            latency=latency,
            cpu=cpu,
            notes={"offered_rate": load_run.offered, "sent": load_run.sent, "answers": dict(load_run.answers)},
        )
        answers = ", ".join(f"{key} {value}" for key, value in sorted(load_run.answers.items()))

        def cell(value: float | None, size: int) -> str:
            return f"{value:>{size}.2f}" if value is not None else f"{'n/a':>{size}}"

        print(
            f"{name:<{width}} {load_run.sent:>6} {load_run.rate:>7.0f} orders/s {report.times_tpcb(load_run.rate):>7} "
            f"{cell(fig.p50_ms, 7)} {cell(fig.p95_ms, 7)} {cell(fig.p99_ms, 7)} {cell(cpu.get('web'), 17)} "
            f"{cell(cpu.get('postgres'), 5)} {cell(cpu.get('load_generator'), 6)}  {answers}"
        )
    print(
        "  (rate: accepted orders (201) per second; closed-loop latency per request, open-loop latency from each "
        "order's scheduled send time; the load generator runs on the same machine)"
    )
