"""Broker reads: our side of what a broker should know, for reconciling with it.

A broker knows only what was routed to it: the accounts that route to it (their ``AccountRoute``,
else ``settings.DEFAULT_BROKER``), the orders whose ``Order.broker`` is it, and the fills it
reported. Each selector is one query whatever the size of the books, and returns only the rows
a comparison can need, so memory follows the broker's answer, not the firm's history.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min

from apps.brokers.models import OrderInstruction
from apps.orders.state import TERMINAL

#: the submit instruction's states in which the order has not reached the venue yet (or, when
#: withdrawn, never will): the venue cannot be expected to know the order
NOT_AT_VENUE = frozenset({"pending", "in_flight", "unknown", "withdrawn"})


@dataclass(frozen=True)
class BrokerHolding:
    """One account's holding of one symbol, as far as one broker can know it.

    ``account_id`` / ``instrument_id`` are None when the broker named an account number or a
    symbol we do not have; ``routes_to`` is the broker the account routes to (None: unknown
    account). ``broker_quantity`` nets the fills booked from this broker (buys less sells);
    ``position_quantity`` is the account's whole position (it may also hold units from
    elsewhere, e.g. transfers). ``changed_at``: its latest fill from this broker, position
    update or change of one of its orders at this broker."""

    account_number: str
    symbol: str
    account_id: int | None
    instrument_id: int | None
    routes_to: str | None
    position_quantity: Decimal
    broker_quantity: Decimal
    changed_at: datetime | None


_HOLDINGS_SQL = """
WITH asked(number, symbol) AS (
    SELECT DISTINCT * FROM unnest(%(numbers)s::text[], %(symbols)s::text[])
), fills AS (
    SELECT o.account_id, o.instrument_id,
           sum(CASE WHEN o.side = 'buy' THEN f.quantity ELSE -f.quantity END) AS quantity,
           max(f.booked_at) AS booked_at
      FROM orders_fill f
      JOIN orders_order o ON o.id = f.order_id
     WHERE f.broker = %(broker)s
     GROUP BY o.account_id, o.instrument_id
), activity AS (
    SELECT o.account_id, o.instrument_id, max(o.updated_at) AS changed_at
      FROM orders_order o
     WHERE o.broker = %(broker)s
     GROUP BY o.account_id, o.instrument_id
), pairs AS (
    SELECT x.number, x.symbol, a.id AS account_id, i.id AS instrument_id
      FROM asked x
      LEFT JOIN accounts_tradingaccount a ON a.number = x.number
      LEFT JOIN instruments_instrument i ON i.symbol = x.symbol
    UNION
    SELECT a.number, i.symbol, a.id, i.id
      FROM fills fl
      JOIN accounts_tradingaccount a ON a.id = fl.account_id
      JOIN instruments_instrument i ON i.id = fl.instrument_id
      LEFT JOIN brokers_accountroute r ON r.account_id = a.id
     WHERE fl.quantity <> 0 AND coalesce(r.broker, %(default)s) = %(broker)s
)
SELECT x.number, x.symbol, x.account_id, x.instrument_id,
       CASE WHEN x.account_id IS NULL THEN NULL ELSE coalesce(r.broker, %(default)s) END,
       coalesce(p.quantity, 0), coalesce(fl.quantity, 0),
       greatest(p.updated_at, fl.booked_at, ac.changed_at)
  FROM pairs x
  LEFT JOIN brokers_accountroute r ON r.account_id = x.account_id
  LEFT JOIN orders_position p ON p.account_id = x.account_id AND p.instrument_id = x.instrument_id
  LEFT JOIN fills fl ON fl.account_id = x.account_id AND fl.instrument_id = x.instrument_id
  LEFT JOIN activity ac ON ac.account_id = x.account_id AND ac.instrument_id = x.instrument_id
 ORDER BY x.number, x.symbol
"""


def broker_holding_list(*, broker: str, asked: Collection[tuple[str, str]]) -> list[BrokerHolding]:
    """Our holdings as ``broker`` can know them: every (account, symbol) of an account routed to
    it whose fills from it do not net to zero, and every (account number, symbol) in ``asked``
    (what the broker reported), whatever the account routes to or whether we know it. One query."""
    pairs = sorted(set(asked))
    with connection.cursor() as cursor:
        cursor.execute(
            _HOLDINGS_SQL,
            {
                "broker": broker,
                "default": str(settings.DEFAULT_BROKER),
                "numbers": [number for number, _ in pairs],
                "symbols": [symbol for _, symbol in pairs],
            },
        )
        return [BrokerHolding(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class BrokerOrderState:
    """One of our orders as the broker should see it. ``submit_status`` is the status of its
    latest submit instruction in the outbox (None: never routed); ``changed_at`` its latest
    event (or update)."""

    order_id: int
    account_id: int
    account_number: str
    symbol: str
    broker: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    venue_cumulative_quantity: Decimal
    broker_order_id: str
    submit_status: str | None
    changed_at: datetime

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def at_venue(self) -> bool:
        """Whether the submit left the outbox (done, or dead-lettered after trying)."""
        return self.submit_status is not None and self.submit_status not in NOT_AT_VENUE


# ``NOT (status IN (terminal))`` is the predicate of the partial index ``order_open_by_tif``, so
# the open orders are found through that (small) index.
_ORDERS_SQL = f"""
SELECT o.id, o.account_id, a.number, i.symbol, o.broker, o.status, o.quantity, o.filled_quantity,
       o.venue_cumulative_quantity, o.broker_order_id,
       (SELECT s.status FROM brokers_orderinstruction s
         WHERE s.order_id = o.id AND s.action = 'submit' ORDER BY s.id DESC LIMIT 1),
       greatest(o.updated_at, (SELECT e.at FROM orders_orderevent e WHERE e.order_id = o.id ORDER BY e.id DESC LIMIT 1))
  FROM orders_order o
  JOIN accounts_tradingaccount a ON a.id = o.account_id
  JOIN instruments_instrument i ON i.id = o.instrument_id
 WHERE (o.broker = %(broker)s AND NOT (o.status IN ({", ".join(f"'{s.value}'" for s in sorted(TERMINAL))})))
    OR o.id = ANY(%(ids)s::bigint[])
 ORDER BY o.id
"""  # noqa: S608 - the only interpolation is the fixed set of terminal statuses


def broker_order_state_list(*, broker: str, order_ids: Collection[int]) -> list[BrokerOrderState]:
    """Every order open here that routes to ``broker``, and every order in ``order_ids`` (those
    the broker lists as open) whatever its status or broker. One query."""
    with connection.cursor() as cursor:
        cursor.execute(_ORDERS_SQL, {"broker": broker, "ids": sorted(set(order_ids))})
        return [
            BrokerOrderState(
                order_id=row[0],
                account_id=row[1],
                account_number=row[2],
                symbol=row[3],
                broker=row[4],
                status=row[5],
                quantity=row[6],
                filled_quantity=row[7],
                venue_cumulative_quantity=row[8],
                broker_order_id=row[9],
                submit_status=row[10],
                changed_at=row[11],
            )
            for row in cursor.fetchall()
        ]


@dataclass(frozen=True)
class OutboxBacklog:
    """One broker's instructions not yet answered: waiting to be sent (``pending``), being
    sent (``in_flight``) or with an unknown outcome (``unknown``); the oldest one's creation."""

    broker: str
    waiting: int
    oldest_at: datetime


#: an instruction in these states is still in the outbox (the relay has not finished with it)
OUTBOX_WAITING = ("pending", "in_flight", "unknown")


def outbox_backlog_list() -> list[OutboxBacklog]:
    """Per broker with anything in the outbox: how many instructions, and since when. One query
    (the partial indexes of the relay's states keep it small)."""
    rows = (
        OrderInstruction.objects.filter(status__in=OUTBOX_WAITING)
        .values("broker")
        .annotate(waiting=Count("id"), oldest_at=Min("created_at"))
        .order_by("broker")
    )
    return [OutboxBacklog(broker=row["broker"], waiting=row["waiting"], oldest_at=row["oldest_at"]) for row in rows]
