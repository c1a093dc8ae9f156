"""The order event export for regulators (after FINRA CAT): the period's order events as
CAT-style JSON Lines, one record per reportable event, derived from the order timeline
(``OrderEvent`` rows whose ``at`` is in ``[period.start, period.end)``, ordered by (at, id)).

Event mapping (our ``EventKind`` -> CAT event type):

==========================  ======  ============================================================
``received``                MENO    New order: the client's order as we received it.
``routed``                  MEOR    Order routed: the relay claimed the submit for its broker.
                                    A submit claimed again after a transient failure writes
                                    another ``routed`` event and so another MEOR (same
                                    ``routedOrderID``): our timeline records each attempt.
``replaced``                MEOM    Order modified: the venue confirmed the new terms (the
                                    request alone changes nothing, see below).
``canceled``                MEOC    Order cancelled; ``initiator`` C when the client asked, else F.
``expired``                 MEOC    The remaining quantity ended by its time in force: the firm
                                    cancels it (``initiator`` F); nearest CAT type.
``risk_rejected``           MEOC    Refused by our pre-trade risk checks after receipt (a MENO
                                    was reported): the whole quantity is cancelled by the firm
                                    (``initiator`` F); nearest CAT type.
``broker_rejected``         MEOC    The venue refused the routed order, which ends it: the
                                    remaining quantity is cancelled, ``initiator`` F.
``partially_filled``,       MEOF    Order fulfillment: one per fill, with the venue's exec id
``filled``                          as ``fulfillmentID`` and the fill's quantity and price.
==========================  ======  ============================================================

Left out (no change to the order a regulator could see, or not ours to report):
``risk_accepted`` (internal step between MENO and MEOR), ``acknowledged`` (the venue's accept:
the venue reports its own events), ``replace_requested`` / ``cancel_requested`` (requests: the
order changes only when the venue confirms, reported as MEOM / MEOC), ``replace_rejected`` /
``cancel_rejected`` (nothing changed), ``status_unknown`` (our uncertainty about a venue's
answer, resolved by a later event).

Every record has: ``type``, ``actionType`` ("NEW"), ``eventTimestamp`` (our event time, UTC ISO
8601 with microseconds and ``Z``), ``orderKeyDate`` (the order's receipt time, same format),
``orderID`` (our order id), ``firmDesignatedID`` (the account number), ``symbol``, ``side`` (B or
SL: the platform never sells short), ``session`` ("REG": the calendar has one regular session),
``firmROEID`` (our event id, as text), ``eventSequence`` (the event chain's number,
``OrderEventSequence``, if assigned before the period's end, else null) and ``firmEventKind`` (our
event kind). Then per type:

- MENO, MEOR, MEOM: ``price`` (limit price, null for MKT/STP), ``stopPrice``, ``quantity``,
  ``orderType`` (MKT, LMT, STP, STPL), ``timeInForce`` (DAY, GTC, IOC, FOK); MENO adds
  ``deptType`` "A" (agency) and ``representativeInd`` "N"; MEOR adds ``destination`` (the broker),
  ``destinationType`` "F" and ``routedOrderID``; MEOM adds ``leavesQty`` and ``initiator`` (of
  the replace request, since the venue's confirmation is what writes ``replaced``);
- MEOC: ``cancelQty`` (what was still open), ``leavesQty`` (0) and ``initiator``;
- MEOF: ``fulfillmentID`` (the exec id), ``quantity`` and ``price`` of the fill, ``leavesQty``,
  ``destination``.

Terms are those in force after the event (rebuilt from the timeline, not today's order row), so
the export is a pure function of events recorded before ``period.end``: a re-run gives the same
bytes. Decimals are written as text. One query (``blotter.timeline_in_period``).
"""

from __future__ import annotations

from typing import Any

from apps.orders.models import EventKind, Initiator
from apps.reports import render
from apps.reports.generators.blotter import TimelineEvent, number, timeline_in_period
from apps.reports.kinds import Period, ReportContent, ReportKind, Scope, register

KEY = "cat_events"
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"

CAT_TYPES: dict[str, str] = {
    EventKind.RECEIVED: "MENO",
    EventKind.ROUTED: "MEOR",
    EventKind.REPLACED: "MEOM",
    EventKind.CANCELED: "MEOC",
    EventKind.EXPIRED: "MEOC",
    EventKind.RISK_REJECTED: "MEOC",
    EventKind.BROKER_REJECTED: "MEOC",
    EventKind.PARTIALLY_FILLED: "MEOF",
    EventKind.FILLED: "MEOF",
}
LEFT_OUT = frozenset(set(EventKind.values) - set(CAT_TYPES))

SIDES = {"buy": "B", "sell": "SL"}
ORDER_TYPES = {"market": "MKT", "limit": "LMT", "stop": "STP", "stop_limit": "STPL"}
CLIENT_INITIATED = frozenset({Initiator.CLIENT.value})


def timestamp(value: Any) -> str:
    return value.strftime(TIMESTAMP)


def _initiator(e: TimelineEvent) -> str:
    """C when the client asked: the event's own initiator (a cancel's is the request's), or for a
    modification, which the venue confirms, the initiator of the replace request."""
    who = e.request_initiator if e.kind == EventKind.REPLACED else e.initiator
    return "C" if who in CLIENT_INITIATED else "F"


def _leaves(e: TimelineEvent) -> Any:
    if e.quantity is None:
        return None
    return number(max(e.quantity - e.cumulative_quantity, 0))


def _terms(e: TimelineEvent) -> dict[str, Any]:
    return {
        "price": e.limit_price if e.type in ("limit", "stop_limit") else None,
        "stopPrice": e.stop_price if e.type in ("stop", "stop_limit") else None,
        "quantity": e.quantity,
        "orderType": ORDER_TYPES.get(e.type, e.type.upper()),
        "timeInForce": e.time_in_force.upper(),
    }


def record(e: TimelineEvent) -> dict[str, Any] | None:
    """The CAT-style record of one event, or None for an event that is not reported."""
    cat_type = CAT_TYPES.get(e.kind)
    if cat_type is None:
        return None
    base: dict[str, Any] = {
        "type": cat_type,
        "actionType": "NEW",
        "eventTimestamp": timestamp(e.at),
        "orderKeyDate": timestamp(e.order_created_at),
        "orderID": str(e.order_id),
        "firmDesignatedID": e.account_number,
        "symbol": e.symbol,
        "side": SIDES.get(e.side, e.side),
        "session": "REG",
        "firmROEID": str(e.id),
        "eventSequence": e.sequence,
        "firmEventKind": e.kind,
    }
    if cat_type == "MENO":
        return {**base, **_terms(e), "deptType": "A", "representativeInd": "N"}
    if cat_type == "MEOR":
        destination = str(e.data.get("destination") or e.broker)
        return {
            **base,
            **_terms(e),
            "destination": destination,
            "destinationType": "F",
            "routedOrderID": str(e.order_id),
        }
    if cat_type == "MEOM":
        return {**base, **_terms(e), "leavesQty": _leaves(e), "initiator": _initiator(e)}
    if cat_type == "MEOC":
        return {**base, "cancelQty": _leaves(e), "leavesQty": number(0), "initiator": _initiator(e)}
    # MEOF
    return {
        **base,
        "fulfillmentID": str(e.data.get("exec_id", "")),
        "quantity": number(e.data.get("quantity")),
        "price": number(e.data.get("price")),
        "leavesQty": number(e.data.get("leaves_quantity")) if "leaves_quantity" in e.data else _leaves(e),
        "destination": e.broker,
    }


def records(period: Period) -> list[dict[str, Any]]:
    return [r for r in (record(e) for e in timeline_in_period(period)) if r is not None]


def generate(period: Period, account_id: int | None) -> list[ReportContent]:
    return [
        ReportContent(
            name=f"{KEY}-{period.business_date.isoformat()}.jsonl",
            content_type="application/x-ndjson",
            data=render.jsonl_bytes(records(period)),
        )
    ]


register(
    ReportKind(
        key=KEY,
        title="Order event export (CAT)",
        scope=Scope.FIRM,
        generate=generate,
        description="After FINRA CAT: the period's order events as CAT-style JSON Lines (MENO, MEOR, MEOM, MEOC, "
        "MEOF), with our event id and chain sequence number.",
    )
)
