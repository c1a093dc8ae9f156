"""The bench's reporting: pgbench's output parsed, the results file's shape, the plot drawn.

Nothing here times anything: the figures are made up, the parsing and the files are checked.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import pytest

from bench import batch_sweep, pgbench, report, results

PGBENCH_15 = """\
pgbench (15.20 (Debian 15.20-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 28234
number of failed transactions: 0 (0.000%)
latency average = 2.124 ms
initial connection time = 9.871 ms
tps = 1883.214562 (without initial connection time)
"""

PGBENCH_13 = """\
pgbench (13.11)
number of transactions actually processed: 1200
latency average = 10.000 ms
tps = 399.5 (including connections establishing)
tps = 400.25 (excluding connections establishing)
"""


def test_pgbench_summary_is_parsed() -> None:
    figures = pgbench.parse_output(PGBENCH_15)
    assert figures == {
        "tps": 1883.214562,
        "latency_average_ms": 2.124,
        "transactions": 28234,
        "failed": 0,
        "version": "15.20 (Debian 15.20-0+deb12u1)",
    }


def test_pgbench_before_14_takes_the_rate_without_connections() -> None:
    figures = pgbench.parse_output(PGBENCH_13)
    assert figures["tps"] == 400.25
    assert figures["version"] == "13.11"


def test_pgbench_without_a_rate_gives_none() -> None:
    assert pgbench.parse_output("connection to server failed")["tps"] is None


def test_pgbench_log_latencies_in_seconds_failed_ones_left_out() -> None:
    lines = ["0 1 1500 0 1733390000 123456", "1 7 2500 0 1733390000 223456", "2 3 failed 0 1733390001 0", ""]
    assert pgbench.parse_log(lines) == [0.0015, 0.0025]


def test_ratio_to_tpcb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "TPCB_TPS", None)
    assert report.times_tpcb(100.0) == "n/a"
    monkeypatch.setattr(report, "TPCB_TPS", 400.0)
    assert report.times_tpcb(100.0) == "0.25"


def test_batch_sizes_option() -> None:
    parser = argparse.ArgumentParser()
    results.add_arguments(parser)
    assert parser.parse_args([]).batch_sizes == (1, 10, 50, 100, 250, 500)
    assert parser.parse_args(["--batch-sizes", "5, 20"]).batch_sizes == (5, 20)
    assert parser.parse_args(["--batch-sizes", ""]).batch_sizes == ()
    with pytest.raises(SystemExit):
        parser.parse_args(["--batch-sizes", "0"])


def test_sweep_steps_are_named_by_size() -> None:
    assert callable(batch_sweep.size_50)
    with pytest.raises(AttributeError):
        batch_sweep.__getattr__("size_x")
    assert batch_sweep.batches_for(1, 300) == 300
    assert batch_sweep.batches_for(500, 300) == batch_sweep.MIN_BATCHES


def _collector(monkeypatch: pytest.MonkeyPatch) -> results.Collector:
    monkeypatch.setattr(report, "TPCB_TPS", 1000.0)
    monkeypatch.setattr(results, "commit_info", lambda: {"short": "abc1234", "uncommitted": []})
    collected = results.Collector(argparse.Namespace(orders=300, batch_sizes=(1, 10)), embedded=False)
    collected.tpcb = {"tps": 1000.0}
    collected.write(
        report.WriteFigure(
            label="order_place_batch, 1 worker, 100 limit buys a batch",
            workers=1,
            postings=1000,
            wall_seconds=2.0,
            latencies=[0.1, 0.2, 0.3],
            client_cpu=1.0,
            server_cpu=None,
        ),
        "trade",
    )
    for size, rate in ((1, 60.0), (10, 150.0)):
        collected.figure(
            f"order_place_batch sweep, 1 worker, batch of {size}",
            "batch sweep",
            rate=rate,
            unit="orders/s",
            count=100,
            seconds=1.0,
            latencies=[0.01 * size],
            latency="per batch",
            batch_size=size,
        )
    collected.figure(
        "POST /api/v1/orders/ over HTTP, open loop, 150/s offered",
        "http",
        rate=149.0,
        unit="orders/s",
        count=1490,
        seconds=10.0,
        latencies=[0.010, 0.020, 0.030],
        latency="from the scheduled send",
        cpu={"web": 5.0, "postgres": 2.0, "load_generator": None},
    )
    return collected


def _document(collected: results.Collector) -> dict[str, object]:
    return {
        "schema": results.SCHEMA,
        "started_at": "2026-12-05T11:10:34+00:00",
        "commit": collected.commit,
        "machine": {"cpus": 2},
        "postgres": {"settings": {"server_version": "15.20", "synchronous_commit": "on", "fsync": "on"}},
        "options": collected.options,
        "tpcb": collected.tpcb,
        "figures": [asdict(fig) for fig in collected.figures],
    }


def test_figures_carry_the_ratio_percentiles_and_cpu_per_op(monkeypatch: pytest.MonkeyPatch) -> None:
    collected = _collector(monkeypatch)
    batch = collected.figures[0]
    assert (batch.rate, batch.unit, batch.x_tpcb, batch.batch_size, batch.latency) == (
        500.0,
        "orders/s",
        0.5,
        100,
        "per batch",
    )
    assert (batch.p50_ms, batch.p99_ms) == pytest.approx((200.0, 300.0))
    assert batch.cpu_ms_per_op == {"app": 1.0, "postgres": None}
    assert collected.options["batch_sizes"] == [1, 10]


def test_results_file_is_json_named_by_time_and_commit(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    collected = _collector(monkeypatch)
    path = collected.save(_document(collected), folder=tmp_path)
    assert path.name.endswith("-abc1234.json")
    assert path.name[:16] == collected.started.strftime("%Y%m%dT%H%M%SZ")
    loaded = json.loads(path.read_text())
    assert {"name", "group", "rate", "unit", "p50_ms", "p99_ms", "cpu_ms_per_op", "x_tpcb"} <= set(loaded["figures"][0])


def test_summary_has_one_line_per_rated_figure(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    collected = _collector(monkeypatch)
    collected.figure("a read", "reads", rate=None, unit="", count=1, seconds=None, latencies=[0.001])
    results.print_summary(collected.figures, _document(collected), "bench/results/x.json")
    out = capsys.readouterr().out
    assert "a read" not in out
    assert "web 5.00 + pg 2.00" in out
    assert out.rstrip().endswith("results   bench/results/x.json")


def test_plot_is_drawn(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from bench import plot

    document = _document(_collector(monkeypatch))
    assert [fig["batch_size"] for fig in plot.sweep(document)] == [1, 10]
    assert [fig["group"] for fig in plot.latency_figures(document)] == ["http", "trade"]
    out = plot.render(document, tmp_path / "img" / "bench.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_postgres_cpu_of_a_backend_that_ended_counts_only_its_share() -> None:
    from bench import httpload

    before = {1: ("PostgreSQL", 10.0), 2: ("PostgreSQL", 4.0), 3: ("RabbitMQ", 1.0)}
    # backend 2 ended with 5.0 s in all: its postmaster (1) gained those 5.0 s and 0.5 s of its own;
    # backend 4 started and spent 0.25 s. In the window: 0.5 + (5.0 - 4.0) + 0.25.
    after = {1: ("PostgreSQL", 15.5), 3: ("RabbitMQ", 1.5), 4: ("PostgreSQL", 0.25)}
    assert httpload.postgres_delta(before, after) == pytest.approx(1.75)
    assert httpload.postgres_delta({}, {}) is None
