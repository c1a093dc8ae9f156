"""``python -m bench.plot bench/results/<run>.json --out docs/img/bench.png``: one PNG of a run.

Left, throughput against batch size: the ``order_place_batch`` sweep (orders/s, one worker) with
the latency of one batch (p50 and p99) on a second axis. Right, latency percentiles (p50, p95,
p99, log scale) of the HTTP runs and of the placement figures. Drawn with matplotlib's Agg
backend (no display needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

DEFAULT_OUT = Path("docs/img/bench.png")
#: the open-loop p99 target of issue 10 (at 150 orders/s offered)
TARGET_P99_MS = 50.0
PERCENTILES = (("p50_ms", "p50", "#4c72b0"), ("p95_ms", "p95", "#dd8452"), ("p99_ms", "p99", "#c44e52"))


def sweep(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch-size sweep's figures, by batch size."""
    rows = [fig for fig in document["figures"] if fig["group"] == "batch sweep" and fig.get("batch_size")]
    return sorted(rows, key=lambda fig: fig["batch_size"])


def latency_figures(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTTP runs, then the placement figures (single orders, batches, the in-process API)."""
    figures = document["figures"]
    http = [fig for fig in figures if fig["group"] == "http"]
    placement = [
        fig
        for fig in figures
        if fig["group"] == "trade" and (fig["name"].startswith(("order_place", "POST"))) and fig.get("p50_ms")
    ]
    return http + placement


def _short(name: str, latency: str) -> str:
    name = name.replace(", limit buys", "").replace(" limit buys a batch", " a batch")
    name = name.replace("POST /api/v1/orders/ over HTTP", "HTTP").replace("POST /api/v1/orders/", "API in-process")
    return f"{name} ({latency})" if latency not in ("per call", "per request") else name


def plot_sweep(axes: Axes, document: dict[str, Any]) -> None:
    rows = sweep(document)
    axes.set_title("order_place_batch: throughput against batch size (1 worker)")
    if not rows:
        axes.text(0.5, 0.5, "no batch-size sweep in this run", ha="center", va="center", transform=axes.transAxes)
        return
    sizes = [fig["batch_size"] for fig in rows]
    rates = [fig["rate"] for fig in rows]
    axes.plot(sizes, rates, "o-", color="#4c72b0", label="orders/s")
    for size, rate in zip(sizes, rates, strict=True):
        axes.annotate(f"{rate:,.0f}", (size, rate), textcoords="offset points", xytext=(0, 7), ha="center")
    axes.set_xscale("log")
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel("orders per call of order_place_batch")
    axes.set_ylabel("orders/s")
    axes.set_ylim(0, max(rates) * 1.2)
    axes.grid(True, alpha=0.3)
    batch = axes.twinx()
    for key, label, style in (("p50_ms", "p50 per batch", ":"), ("p99_ms", "p99 per batch", "--")):
        batch.plot(sizes, [fig[key] for fig in rows], style, color="#888888", label=label)
    batch.set_yscale("log")
    batch.set_ylabel("ms per batch")
    lines = axes.get_legend_handles_labels()
    more = batch.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")


def plot_latency(axes: Axes, document: dict[str, Any]) -> None:
    rows = latency_figures(document)
    axes.set_title("latency percentiles: HTTP runs and placement")
    if not rows:
        axes.text(0.5, 0.5, "no latency figures in this run", ha="center", va="center", transform=axes.transAxes)
        return
    height = 0.26
    for offset, (key, label, color) in enumerate(PERCENTILES):
        positions = [n + (offset - 1) * height for n in range(len(rows))]
        values = [fig.get(key) or 0.0 for fig in rows]
        axes.barh(positions, values, height=height, color=color, label=label)
    axes.set_yticks(range(len(rows)), [_short(fig["name"], fig["latency"]) for fig in rows], fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("ms (log scale)")
    axes.axvline(TARGET_P99_MS, color="#333333", linestyle=":", linewidth=1)
    axes.annotate(
        "issue 10: p99 ≤ 50 ms at 150/s",
        (TARGET_P99_MS, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
    )
    axes.grid(True, axis="x", alpha=0.3)
    axes.legend(loc="lower right")


def render(document: dict[str, Any], out: Path) -> Path:
    commit = document.get("commit", {})
    machine = document.get("machine", {})
    settings = document.get("postgres", {}).get("settings", {})
    tpcb = (document.get("tpcb") or {}).get("tps")
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 6), layout="constrained")
    plot_sweep(left, document)
    plot_latency(right, document)
    figure.suptitle(
        f"make bench {document.get('started_at', '')[:16].replace('T', ' ')} UTC, commit {commit.get('short', '?')}"
        f"{' + uncommitted changes' if commit.get('uncommitted') else ''}; {machine.get('cpus', '?')} CPUs; "
        f"PostgreSQL {str(settings.get('server_version', '?')).split(' ')[0]} "
        f"(synchronous_commit={settings.get('synchronous_commit')}, fsync={settings.get('fsync')}); "
        + (f"TPC-B {tpcb:,.0f} tps" if tpcb else "TPC-B n/a")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results file of make bench (bench/results/*.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the PNG to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    document = json.loads(args.results.read_text(encoding="utf-8"))
    print(f"wrote {render(document, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
