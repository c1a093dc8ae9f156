"""What every reconciliation check produces: a difference, with its kind and stable key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The kinds of break (``ReconciliationBreak.kind``). A break is de-duplicated on (kind,
# ``details["key"]``): the key names the thing that disagrees, never the numbers, so a
# difference that persists (even if its numbers move) is one open break until it is reviewed.

#: a position disagrees with the ledger's position balances (key ``position:{account}:{instrument}``)
POSITION_VS_LEDGER = "position_vs_ledger"
#: an order's filled quantity disagrees with its fills (key ``order:{order}``)
ORDER_FILLS = "order_filled_vs_fills"
#: what we hold from a broker's fills disagrees with the broker's position
#: (key ``{broker}:position:{account number}:{symbol}``)
POSITION_VS_BROKER = "position_vs_broker"
#: an order open here (and at the venue) that the broker does not list as open (key ``{broker}:order:{order}``)
ORDER_NOT_OPEN_AT_BROKER = "order_not_open_at_broker"
#: the broker lists an order as open that is done here, unknown here, or routed elsewhere
#: (key ``{broker}:order:{order}``)
BROKER_ORDER_NOT_OPEN_HERE = "broker_order_not_open_here"
#: an order open on both sides whose quantity or executed quantity differs (key ``{broker}:order:{order}``)
ORDER_VS_BROKER = "order_vs_broker"
#: the broker could not be asked (it raised, or answered nonsense): nothing of it was compared
#: (key ``{broker}:unavailable``)
BROKER_UNAVAILABLE = "broker_unavailable"

BROKER_KINDS = (POSITION_VS_BROKER, ORDER_NOT_OPEN_AT_BROKER, BROKER_ORDER_NOT_OPEN_HERE, ORDER_VS_BROKER)


def plain(value: Decimal) -> str:
    """A quantity as a plain decimal string without trailing zeros ("10", "0.5", "-3")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Difference:
    """One thing that disagrees. ``broker`` is the broker it was found with ("" for the books)."""

    kind: str
    key: str
    account_id: int | None
    summary: str
    details: dict[str, Any]
    broker: str = ""
