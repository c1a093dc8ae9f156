"""``make bench``: ledger and trade-path throughput and latency figures. Figures only, no pass/fail.

Runs on a dedicated database (``bench_backoffice``, dropped and recreated) on the server of
``DATABASE_URL`` (``scripts/with_db.py`` provides the embedded one when it is unset), and, for
the end-to-end figure, a real Celery worker on a queue of its own (``bench.pipeline``).
See docs/performance.md for what each figure means and the latest results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import database, pipeline, report, results


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=3000, help="transfers per throughput run (default 3000)")
    parser.add_argument("--hot", type=int, default=2000, help="postings in the hot-spot run (default 2000)")
    parser.add_argument("--deposits", type=int, default=1000, help="deposits in the deposit run (default 1000)")
    parser.add_argument("--clients", type=int, default=200, help="client accounts transfers run between (default 200)")
    parser.add_argument("--history", type=int, default=100_000, help="entries on the read account (default 100000)")
    parser.add_argument("--reads", type=int, default=1000, help="balance reads; statement pages get a fifth")
    parser.add_argument("--anatomy", type=int, default=500, help="postings timed statement by statement (default 500)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also cProfile N transfers (default off)")
    trade = parser.add_argument_group("trade path")
    trade.add_argument("--traders", type=int, default=200, help="funded trading accounts orders go to (default 200)")
    trade.add_argument("--symbols", type=int, default=10, help="instruments (default 10)")
    trade.add_argument("--orders", type=int, default=1000, help="orders per placement run (default 1000)")
    trade.add_argument("--fills", type=int, default=800, help="fills per booking run (default 800)")
    trade.add_argument("--e2e", type=int, default=1000, help="orders in the end-to-end run (default 1000)")
    trade.add_argument("--placers", type=int, default=3, help="placing processes in the end-to-end run (default 3)")
    trade.add_argument(
        "--e2e-batch",
        type=int,
        default=100,
        help="orders per call in the end-to-end run through the batch entry (default 100; 0 skips it)",
    )
    trade.add_argument(
        "--e2e-batch-orders", type=int, default=3000, help="orders in each batch-entry end-to-end run (default 3000)"
    )
    trade.add_argument(
        "--e2e-workers",
        default="1,2",
        help="relaying worker processes of the batch-entry runs, one run each (default 1,2)",
    )
    trade.add_argument("--e2e-timeout", type=float, default=90, help="seconds to wait for the last fill (default 90)")
    trade.add_argument("--trade-anatomy", type=int, default=100, help="operations timed and profiled (default 100)")
    trade.add_argument(
        "--broker",
        choices=("auto", "rabbitmq", "redis", "filesystem"),
        default="auto",
        help="Celery broker of the end-to-end run (default auto: RabbitMQ, else Redis, else the filesystem transport)",
    )
    trade.add_argument("--no-trade", action="store_true", help="ledger figures only")
    results.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    target = database.recreate_database()
    broker = pipeline.choose_broker(args.broker)  # before Django reads CELERY_BROKER_URL
    database.django_setup()
    progress(f"migrating {database.BENCH_DATABASE}")
    database.migrate()
    collected = results.Collector(args, embedded=target.embedded)
    try:
        return _run(args, target, broker, progress, began, collected)
    finally:
        pipeline.cleanup(broker)


def _run(
    args: argparse.Namespace,
    target: database.Target,
    broker: pipeline.Broker,
    progress: Callable[[str], None],
    began: float,
    collected: results.Collector,
) -> int:
    from bench import anatomy, fixtures, history, reads, sequencer, workers

    print(f"Ledger and trade benchmark, {report.now_utc()} (database {database.BENCH_DATABASE}, recreated)")
    for line in report.machine(embedded=target.embedded).lines():
        print(line)
    print(f"before    {report.load()}")
    collected.baseline(target.original_url, seconds=args.pgbench_seconds, skip=args.no_pgbench, progress=progress)
    progress(f"creating and funding {args.clients + 2} client accounts through the services")
    fx = fixtures.create(clients=args.clients)

    # The long history first: the writes then run on a ledger that is no longer empty.
    progress(f"writing {args.history:,} entries on one account in SQL, then the sequencer and verify()")
    built = history.build(
        actor_id=fx.actor_id, account_id=fx.reader_cash, counterparty_id=fx.reader_house, entries=args.history
    )

    context = multiprocessing.get_context("spawn")

    def figure(label: str, run: workers.Run, workers_count: int, unit: str = "tx") -> report.WriteFigure:
        progress(f"{label}: {len(run.latencies) / run.wall_seconds:.0f} {unit}/s")
        return report.WriteFigure(
            label=label,
            workers=workers_count,
            postings=len(run.latencies),
            wall_seconds=run.wall_seconds,
            latencies=run.latencies,
            errors=run.errors,
            outcomes=run.outcomes,
            retries=run.retries,
            deadlocks=run.deadlocks,
            rollbacks=run.rollbacks,
            client_cpu=run.client_cpu,
            server_cpu=run.server_cpu,
        )

    writes: list[report.WriteFigure] = []
    first_id = sequencer.last_transaction_id()
    beat = sequencer.Beat()  # the sequencer runs while the postings do, as beat runs it
    beat.start()
    try:
        pool = tuple(fx.cash)
        for count in (1, 4):
            plan = workers.specs(
                "transfer", workers=count, total=args.postings, actor_id=fx.actor_id, ids=pool, key=f"t{count}"
            )
            label = f"transfers, {count} worker{'s' if count > 1 else ''}, {len(pool)} accounts"
            writes.append(figure(label, workers.run(plan, context), count))
        plan = workers.specs("hotspot", workers=4, total=args.hot, actor_id=fx.actor_id, ids=fx.hot, key="hot")
        writes.append(figure("hot spot, 4 workers, both ways between 2 accounts", workers.run(plan, context), 4))
        plan = workers.specs(
            "deposit", workers=1, total=args.deposits, actor_id=fx.actor_id, ids=tuple(fx.clients), key="d"
        )
        writes.append(figure("cash_deposit, 1 worker, into one house account", workers.run(plan, context), 1))
    finally:
        rounds = beat.stop()
    report.print_writes(writes)
    lagged = sequencer.lag(after_transaction_id=first_id)
    sequencer.print_sequencer(
        history_numbered=built.sequenced, history_seconds=built.sequence_seconds, beat=rounds, lagged=lagged
    )
    collected.writes(writes, "ledger")
    collected.sequencer(
        numbered=built.sequenced,
        seconds=built.sequence_seconds,
        lag_p50=lagged.p50,
        lag_p99=lagged.p99,
        lagged=lagged.transactions,
    )

    progress("timing reads")
    read_figures = reads.measure(trading_account_id=fx.reader, ledger_account_id=fx.reader_cash, reads=args.reads)
    report.print_reads(f"Reads, one ledger account with {built.entries:,} entries", read_figures)
    collected.reads(read_figures)
    verdict = "consistent" if not built.problems else f"{len(built.problems)} PROBLEMS: {built.problems[:3]}"
    print(
        f"  (history written in SQL in {built.seconds:.1f} s; the sequencer numbered {built.sequenced:,} "
        f"transactions in {built.sequence_seconds:.1f} s; verify() of the whole ledger took "
        f"{built.verify_seconds:.1f} s: {verdict})"
    )

    progress(f"timing {args.anatomy} postings statement by statement")
    anatomy.print_anatomy(
        anatomy.measure(
            actor_id=fx.actor_id, pool=list(fx.cash), trading_account_id=fx.clients[0], postings=args.anatomy
        )
    )
    if args.profile:
        anatomy.profile(actor_id=fx.actor_id, pool=list(fx.cash), postings=args.profile)

    problems = list(built.problems)
    if not args.no_trade:
        problems += _trade(args, broker, context, figure, progress, collected)

    print()
    print(f"after     {report.load()}")
    print()
    print(f"(whole run {time.perf_counter() - began:.0f} s; the bench database is left in place for inspection)")
    collected.finish()  # the JSON file under bench/results/ and the summary: the run's last lines
    return 0 if not problems else 1


def _trade(
    args: argparse.Namespace,
    broker: pipeline.Broker,
    context: multiprocessing.context.SpawnContext,
    figure: Callable[..., report.WriteFigure],
    progress: Callable[[str], None],
    collected: results.Collector,
) -> list[str]:
    """The trade path: placement and fills (1 and 4 workers), end to end through a real worker."""
    from apps.ledger.verification import verify
    from bench import batch_sweep, httpload, trade, trade_anatomy, workers

    progress(f"trade path: {args.symbols} instruments, {args.traders} funded accounts with raised limits")
    tx = trade.create(accounts=args.traders, symbols=args.symbols)
    accounts = tuple(tx.accounts)

    # End to end first: the relay claims every pending instruction of the database, so it runs
    # while the only ones are its own (the placement runs below leave theirs pending).
    progress(f"end to end: {args.e2e} market orders from {args.placers} processes, worker on {broker.kind}")
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as folder:
        e2e = pipeline.measure(
            broker=broker,
            actor_id=tx.actor_id,
            accounts=accounts,
            orders=args.e2e,
            clients=args.placers,
            timeout=args.e2e_timeout,
            log=Path(folder) / "worker.log",
        )
    end_rate = e2e.filled / e2e.window if e2e.window else 0.0
    progress(f"end to end: {e2e.filled} filled, {end_rate:.0f} orders/s")
    batched: list[pipeline.EndToEnd] = []
    for processes in [int(n) for n in str(args.e2e_workers).split(",") if n.strip()] if args.e2e_batch else []:
        progress(
            f"end to end through the batch entry: {args.e2e_batch_orders} market orders, {args.e2e_batch} a call, "
            f"{processes} relaying worker process(es)"
        )
        with tempfile.TemporaryDirectory(prefix="bench-worker-") as folder:
            batch_run = pipeline.measure(
                broker=broker,
                actor_id=tx.actor_id,
                accounts=accounts,
                orders=args.e2e_batch_orders,
                clients=2,
                timeout=args.e2e_timeout,
                log=Path(folder) / "worker.log",
                batch=args.e2e_batch,
                worker_processes=processes,
                prefix=f"{pipeline.E2E_PREFIX}b{processes}",
            )
        batched.append(batch_run)
        rate = batch_run.filled / batch_run.window if batch_run.window else 0.0
        progress(f"end to end through the batch entry: {batch_run.filled} filled, {rate:.0f} orders/s")
    progress(f"relay_once in this process, {args.trade_anatomy} instructions")
    relay_lines = trade_anatomy.relay(tx, count=args.trade_anatomy)

    figures: list[report.WriteFigure] = []
    for count in (1, 4):
        plan = workers.specs(
            "bench.trade:place_limit",
            workers=count,
            total=args.orders,
            actor_id=tx.actor_id,
            ids=accounts,
            key=f"p{count}",
        )
        label = f"order_place, {count} worker{'s' if count > 1 else ''}, limit buys"
        figures.append(figure(label, workers.run(plan, context), count, "order"))
    for count in (1, 4):
        plan = workers.specs(
            "bench.trade:place_batch",
            workers=count,
            total=max(3 * args.orders // trade.BATCH, count),  # 30 batches: 3,000 orders by default
            actor_id=tx.actor_id,
            ids=accounts,
            key=f"b{count}",
        )
        label = f"order_place_batch, {count} worker{'s' if count > 1 else ''}, {trade.BATCH} limit buys a batch"
        run = workers.run(plan, context)
        batches = figure(label, run, count, "batch")
        batches.postings *= trade.BATCH  # the rate counts orders; latencies stay per batch
        progress(f"{label}: {batches.rate:.0f} orders/s")
        figures.append(batches)
    for count in (1, 4):
        plan = workers.specs(
            "bench.trade:api_place_limit",
            workers=count,
            total=args.orders,
            actor_id=tx.actor_id,
            ids=accounts,
            key=f"a{count}",
        )
        label = f"POST /api/v1/orders/, {count} worker{'s' if count > 1 else ''}, limit buys"
        figures.append(figure(label, workers.run(plan, context), count, "order"))
    accepted = trade.accepted_orders("p1") + trade.accepted_orders("p4")
    for count in (1, 4):
        plan = trade.fill_specs(
            order_ids=accepted, workers=count, total=args.fills, actor_id=tx.actor_id, key=f"f{count}"
        )
        accepted = accepted[sum(len(spec.ids) for spec in plan) :]
        label = f"intake.receive FILL, {count} worker{'s' if count > 1 else ''}"
        figures.append(figure(label, workers.run(plan, context), count, "fill"))
    batch_accepted = trade.accepted_orders("b1") + trade.accepted_orders("b4")
    for count in (1, 2):
        plan = trade.fill_batch_specs(
            order_ids=batch_accepted, workers=count, batches=10, actor_id=tx.actor_id, key=f"fb{count}"
        )
        batch_accepted = batch_accepted[sum(len(spec.ids) for spec in plan) :]
        label = f"intake.receive_many, {count} worker{'s' if count > 1 else ''}, {trade.BATCH} FILLs a call"
        booked = figure(label, workers.run(plan, context), count, "batch")
        booked.postings *= trade.BATCH  # the rate counts fills; latencies stay per batch
        progress(f"{label}: {booked.rate:.0f} fills/s")
        figures.append(booked)
    report.print_writes(
        figures,
        title="Trade path, service layer (every guarantee on)",
        unit="op",
        count="calls",
    )
    pipeline.print_end_to_end(e2e)
    for batch_run in batched:
        pipeline.print_end_to_end(batch_run)
    collected.writes(figures, "trade")
    collected.end_to_end(e2e)
    for batch_run in batched:
        collected.end_to_end(batch_run)
    if not args.no_http:
        httpload.run(
            accounts=accounts,
            prices=tx.prices,
            orders=args.http_orders,
            rate=args.http_rate,
            collected=collected,
            progress=progress,
        )
    if args.batch_sizes:
        batch_sweep.run(
            sizes=args.batch_sizes,
            orders=args.orders,
            actor_id=tx.actor_id,
            accounts=accounts,
            collected=collected,
            progress=progress,
        )

    progress(f"timing and profiling {args.trade_anatomy} placements and fills")
    print()
    print("Where the time of the trade path goes (one operation at a time, no contention)")
    trade_anatomy.placement_and_fill(tx, count=args.trade_anatomy)
    for line in relay_lines:
        print(line)
    progress("verify() after the trade path")
    checked = verify()
    print()
    print(
        f"verify() after the trade path: {checked.accounts_checked:,} ledger accounts, "
        f"{checked.transactions_checked:,} transactions: "
        + ("consistent" if checked.ok else f"{len(checked.problems)} PROBLEMS: {checked.problems[:3]}")
    )
    return checked.problems


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
