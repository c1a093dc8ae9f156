"""The order events' hash chain: what of an event is hashed, its sequencer and its verifier.

Every event is queued in ``orders_unsequencedevent`` by a statement-level trigger on
``orders_orderevent``, in the transaction that inserts it. The event sequencer (one at a time,
an advisory lock; Celery beat every few seconds, and ``verify_audit`` first) numbers what has
committed, in event-id order, and appends a link per event to ``orders_ordereventsequence``.

The canonical content of an event (form version 1, see ``apps.core.chain``)::

    {"type": "orders.event", "id", "order_id", "kind", "status_after", "at", "broker_at",
     "actor_id", "initiator", "source_ip", "correlation_id", "data"}

``data`` is the stored JSON, keys sorted, non-integer numbers exact (normalised fixed point).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from apps.core.chain import (
    Chain,
    ChainReport,
    canonical_json,
    chain_extend,
    chain_verify,
    ids_array,
    parse_json_data,
    sql_utc,
)

EVENT_SEQUENCER_LOCK = 7_340_002  # pg_advisory_xact_lock key of the one event sequencer

_CONTENTS = f"""
SELECT id, order_id, kind, status_after, {sql_utc("at")}, {sql_utc("broker_at")}, actor_id, initiator,
       host(source_ip), correlation_id, data::text
  FROM orders_orderevent WHERE id = ANY(%s::bigint[])
"""  # noqa: S608 - no user input


def event_contents(cursor: Any, ids: Sequence[int]) -> Mapping[int, bytes]:
    """The canonical content of each order event in ``ids`` that exists, as stored."""
    cursor.execute(_CONTENTS, [ids_array(ids)])
    return {
        event_id: canonical_json(
            {
                "type": "orders.event",
                "id": event_id,
                "order_id": order_id,
                "kind": kind,
                "status_after": status_after,
                "at": at,
                "broker_at": broker_at,
                "actor_id": actor_id,
                "initiator": initiator,
                "source_ip": source_ip,
                "correlation_id": correlation_id,
                "data": parse_json_data(data),
            }
        )
        for (
            event_id,
            order_id,
            kind,
            status_after,
            at,
            broker_at,
            actor_id,
            initiator,
            source_ip,
            correlation_id,
            data,
        ) in cursor.fetchall()
    }


ORDER_EVENT_CHAIN = Chain(
    name="order events",
    lock_key=EVENT_SEQUENCER_LOCK,
    record_table="orders_orderevent",
    record_noun="order event",
    queue_table="orders_unsequencedevent",
    queue_column="event_id",
    link_table="orders_ordereventsequence",
    link_column="event_id",
    contents=event_contents,
)


def event_sequence_assign(*, limit: int = 10_000) -> int:
    """Number and chain the order events committed since the last run; returns how many."""
    return chain_extend(ORDER_EVENT_CHAIN, limit=limit)


def event_chain_verify(progress: Callable[[int], object] | None = None) -> ChainReport:
    """Chain what has committed, then recompute the whole event chain (first broken link)."""
    event_sequence_assign()
    return chain_verify(ORDER_EVENT_CHAIN, progress=progress)
