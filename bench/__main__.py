"""``make bench``: ledger throughput and read latency figures. Figures only, no pass/fail.

Runs on a dedicated database (``bench_backoffice``, dropped and recreated) on the server of
``DATABASE_URL`` (``scripts/with_db.py`` provides the embedded one when it is unset).
See docs/performance.md for what each figure means and the latest results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time

from bench import database


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
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    target = database.recreate_database()
    database.django_setup()
    progress(f"migrating {database.BENCH_DATABASE}")
    database.migrate()

    from bench import anatomy, fixtures, history, reads, report, workers

    print(f"Ledger benchmark, {report.now_utc()} (database {database.BENCH_DATABASE}, recreated)")
    for line in report.machine(embedded=target.embedded).lines():
        print(line)
    print(f"before    {report.load()}")
    progress(f"creating and funding {args.clients + 2} client accounts through the services")
    fx = fixtures.create(clients=args.clients)

    # The long history first: the writes then run on a ledger that is no longer empty.
    progress(f"writing {args.history:,} entries on one account in SQL, then verify()")
    built = history.build(
        actor_id=fx.actor_id, account_id=fx.reader_cash, counterparty_id=fx.reader_house, entries=args.history
    )

    context = multiprocessing.get_context("spawn")
    writes: list[report.WriteFigure] = []

    def record(label: str, run: workers.Run, workers_count: int) -> None:
        progress(f"{label}: {len(run.latencies) / run.wall_seconds:.0f} tx/s")
        writes.append(
            report.WriteFigure(
                label=label,
                workers=workers_count,
                postings=len(run.latencies),
                wall_seconds=run.wall_seconds,
                latencies=run.latencies,
                errors=run.errors,
                retries=run.retries,
                deadlocks=run.deadlocks,
                rollbacks=run.rollbacks,
                client_cpu=run.client_cpu,
                server_cpu=run.server_cpu,
            )
        )

    pool = tuple(fx.cash)
    for count in (1, 4):
        plan = workers.specs(
            "transfer", workers=count, total=args.postings, actor_id=fx.actor_id, ids=pool, key=f"t{count}"
        )
        record(
            f"transfers, {count} worker{'s' if count > 1 else ''}, {len(pool)} accounts",
            workers.run(plan, context),
            count,
        )
    plan = workers.specs("hotspot", workers=4, total=args.hot, actor_id=fx.actor_id, ids=fx.hot, key="hot")
    record("hot spot, 4 workers, both ways between 2 accounts", workers.run(plan, context), 4)
    plan = workers.specs(
        "deposit", workers=1, total=args.deposits, actor_id=fx.actor_id, ids=tuple(fx.clients), key="d"
    )
    record("cash_deposit, 1 worker, into one house account", workers.run(plan, context), 1)
    report.print_writes(writes)

    progress("timing reads")
    read_figures = reads.measure(trading_account_id=fx.reader, ledger_account_id=fx.reader_cash, reads=args.reads)
    report.print_reads(f"Reads, one ledger account with {built.entries:,} entries", read_figures)
    verdict = "consistent" if not built.problems else f"{len(built.problems)} PROBLEMS: {built.problems[:3]}"
    print(
        f"  (history written in SQL in {built.seconds:.1f} s; verify() of the whole ledger "
        f"took {built.verify_seconds:.1f} s: {verdict})"
    )

    progress(f"timing {args.anatomy} postings statement by statement")
    anatomy.print_anatomy(
        anatomy.measure(
            actor_id=fx.actor_id, pool=list(fx.cash), trading_account_id=fx.clients[0], postings=args.anatomy
        )
    )
    if args.profile:
        anatomy.profile(actor_id=fx.actor_id, pool=list(fx.cash), postings=args.profile)
    print()
    print(f"after     {report.load()}")
    print()
    print(f"(whole run {time.perf_counter() - began:.0f} s; the bench database is left in place for inspection)")
    return 0 if not built.problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
