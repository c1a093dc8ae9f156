"""Where the time of the trade path goes: the statements of one placement, one fill and one
relayed instruction, their client-side timings, and cProfile grouped by package.

Runs in the parent process, one operation at a time (no contention), on the service path.
The relay part must run while no other instruction is pending (``relay_once`` claims the
oldest ready instructions of the whole database): right after the end-to-end run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench import anatomy, trade

PLACE_STEPS = (
    "order_place",
    "order_place_batch",
    "_prepare",
    "ledger_accounts_resolve",
    "_place_all",
    "lock_ledger_accounts",
    "_existing_orders",
    "place_locked",
    "snapshot",
    "activities",
    "effective_limits",
    "trading_states_for",
    "is_restricted",
    "evaluate",
    "hold_reserve_locked",
    "post_locked",
    "brokers_for",
    "instruction_add",
    "event",
)
FILL_STEPS = (
    "receive",
    "attempt",
    "system_actor",
    "apply_report",
    "lock_order",
    "_book_fill",
    "_post_fill",
    "ledger_accounts_for",
    "ledger_account_get_or_create",
    "lock_ledger_accounts",
    "lock_hold",
    "hold_settle_locked",
    "post_locked",
    "position_lock",
    "apply_fill",
    "hold_release_locked",
    "asset_get",
)
RELAY_STEPS = (
    "relay_once",
    "_claim",
    "_call",
    "submit",
    "market_get",
    "accept",
    "receive_many",
    "receive",
    "apply_report",
    "_finish",
    "ticket_for",
)


def _placer(fx: trade.TradeFixtures, *, market: bool, prefix: str) -> Callable[[int], object]:
    place = trade.placer(fx.actor_id, fx.accounts, market=market, seed=99)
    return lambda n: place(f"{prefix}-{n}")


def placement_and_fill(fx: trade.TradeFixtures, *, count: int) -> None:
    """Time and profile ``count`` placements (limit buys) and then ``count`` fills of them."""
    place = _placer(fx, market=False, prefix="anatomy-p")
    for n in range(30):
        place(1_000_000 + n)  # warm-up: connection, plans, caches
    anatomy.print_call_timing(anatomy.time_calls("One order_place (limit buy, accepted)", place, count))
    anatomy.profile_calls("placements (order_place)", lambda n: place(2_000_000 + n), count, steps=PLACE_STEPS)

    orders = trade.accepted_orders("anatomy-p")
    fill = trade.filler(orders)
    for n in range(30):
        fill(f"anatomy-warmup-{n}")
    anatomy.print_call_timing(
        anatomy.time_calls("One intake.receive (FILL of a whole order)", lambda n: fill(f"anatomy-{n}"), count)
    )
    left = len(orders) - 31 - count  # warm-up, the captured call and the timed ones took theirs
    anatomy.profile_calls(
        "fills (intake.receive)", lambda n: fill(f"anatomy-profile-{n}"), min(count, left), steps=FILL_STEPS
    )


def relay(fx: trade.TradeFixtures, *, count: int, batch: int = 100) -> Sequence[str]:
    """Time ``relay_once`` per instruction, one at a time and ``batch`` at a time, then profile
    it. Returns the lines to print later (the figures are reported after the end-to-end run)."""
    import io
    import time
    from contextlib import redirect_stdout

    from apps.brokers import relay as relay_module

    place = _placer(fx, market=True, prefix="anatomy-r")
    out = io.StringIO()
    with redirect_stdout(out):
        for n in range(10):  # warm-up
            place(n)
            relay_module.relay_once(1)
        for n in range(count + 1):
            place(100 + n)
        anatomy.print_call_timing(
            anatomy.time_calls(
                "One relay_once(limit=1): claim, paper submit (NEW + FILL), intake of both reports, finish",
                lambda n: relay_module.relay_once(1),
                count,
            )
        )
        for n in range(batch):
            place(10_000 + n)
        began = time.perf_counter()
        handled = relay_module.relay_once(batch)
        seconds = time.perf_counter() - began
        print(
            f"  one relay_once(limit={batch}) handled {handled} instructions in {seconds * 1000:.0f} ms: "
            f"{seconds / max(handled, 1) * 1000:.2f} ms each (the claim is shared; each instruction still "
            f"makes its own broker call and its own intake transactions)"
        )
        for n in range(count):
            place(20_000 + n)
        anatomy.profile_calls(
            "relayed instructions (relay_once(1))", lambda n: relay_module.relay_once(1), count, steps=RELAY_STEPS
        )
    return out.getvalue().splitlines()
