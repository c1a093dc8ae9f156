"""The order state table: what venues do is tolerated, everything else is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.orders.state import TRANSITIONS, Event, IllegalTransition, Overfill, Position, Status, next_status

S, E = Status, Event


def at(status, quantity="10", filled="0", acked=True, replacing=False):
    return Position(status, Decimal(quantity), Decimal(filled), acked, replace_pending=replacing)


@pytest.mark.parametrize(
    ("position", "event", "fill", "expected"),
    [
        (at(S.PENDING_NEW, acked=False), E.ACKNOWLEDGE, "0", S.NEW),
        (at(S.PENDING_NEW, acked=False), E.FILL, "4", S.PARTIALLY_FILLED),  # fill before the ack
        (at(S.PARTIALLY_FILLED, filled="4"), E.ACKNOWLEDGE, "0", S.PARTIALLY_FILLED),  # late ack
        (at(S.NEW), E.FILL, "10", S.FILLED),
        (at(S.PENDING_CANCEL, filled="2"), E.FILL, "3", S.PENDING_CANCEL),  # fill while a cancel is pending
        (at(S.PENDING_CANCEL, filled="2"), E.FILL, "8", S.FILLED),
        (at(S.CANCELED, filled="2"), E.FILL, "3", S.CANCELED),  # after the cancel: booked, still canceled
        (at(S.CANCELED, filled="2"), E.FILL, "8", S.FILLED),  # filled outranks canceled
        (at(S.PENDING_REPLACE, filled="1"), E.FILL, "1", S.PENDING_REPLACE),
        (at(S.PENDING_CANCEL, filled="2"), E.CANCEL_REJECT, "0", S.PARTIALLY_FILLED),
        (at(S.PENDING_CANCEL), E.CANCEL_REJECT, "0", S.NEW),
        (at(S.PENDING_CANCEL, acked=False), E.CANCEL_REJECT, "0", S.PENDING_NEW),
        (at(S.PENDING_REPLACE, filled="3"), E.REPLACE_REJECT, "0", S.PARTIALLY_FILLED),
        (at(S.PENDING_REPLACE, quantity="5", filled="3"), E.REPLACED, "0", S.PARTIALLY_FILLED),
        (at(S.PENDING_REPLACE, quantity="3", filled="3"), E.REPLACED, "0", S.FILLED),  # replaced down to filled
        (at(S.FILLED, filled="10"), E.CANCELED, "0", S.FILLED),
        (at(S.FILLED, filled="10"), E.REPLACED, "0", S.FILLED),
        (at(S.NEW), E.CANCELED, "0", S.CANCELED),  # unsolicited: an IOC/FOK remainder ends canceled
        (at(S.PENDING_NEW, acked=False), E.CANCELED, "0", S.CANCELED),
        (at(S.NEW), E.EXPIRE, "0", S.EXPIRED),
        (at(S.EXPIRED), E.CANCELED, "0", S.EXPIRED),
        # A replace and a cancel outstanding at once (FIX 4.4 Appendix D): pending cancel outranks.
        (at(S.PENDING_REPLACE, replacing=True), E.CANCEL_REQUEST, "0", S.PENDING_CANCEL),
        (at(S.PENDING_CANCEL, quantity="20"), E.REPLACED, "0", S.PENDING_CANCEL),  # replaced, cancel still pending
        (at(S.PENDING_CANCEL, quantity="20"), E.FILL, "20", S.FILLED),  # then filled at the new quantity
        (at(S.PENDING_CANCEL, quantity="5", filled="5"), E.REPLACED, "0", S.FILLED),
        (at(S.PENDING_CANCEL), E.REPLACE_REJECT, "0", S.PENDING_CANCEL),
        (at(S.PENDING_CANCEL, replacing=True), E.CANCEL_REJECT, "0", S.PENDING_REPLACE),  # replace still open
        (at(S.PENDING_CANCEL, acked=False), E.REJECT, "0", S.REJECTED),  # refused before the cancel arrived
        # Answers to requests that are no longer pending (stale, reordered) change nothing.
        (at(S.NEW), E.CANCEL_REJECT, "0", S.NEW),
        (at(S.PARTIALLY_FILLED, filled="2"), E.REPLACE_REJECT, "0", S.PARTIALLY_FILLED),
        (at(S.PENDING_REPLACE, replacing=True), E.REPLACE_REJECT, "0", S.PENDING_REPLACE),  # not the pending one
        (at(S.CANCELED), E.REPLACE_REJECT, "0", S.CANCELED),
        (at(S.NEW, quantity="20"), E.REPLACED, "0", S.NEW),  # unsolicited, or after an implied replace
        # The venue refused the order, then answers the cancel (or replace) that reached it after:
        # "too late". Found by the simulation (seed 9): it was dead-lettered as illegal.
        (at(S.REJECTED), E.CANCEL_REJECT, "0", S.REJECTED),
        (at(S.REJECTED), E.REPLACE_REJECT, "0", S.REJECTED),
    ],
)
def test_allowed_transitions(position, event, fill, expected):
    assert next_status(position, event, fill_quantity=Decimal(fill)) == expected


@pytest.mark.parametrize(
    ("position", "event"),
    [
        (at(S.REJECTED), E.FILL),
        (at(S.REJECTED), E.CANCEL_REQUEST),
        (at(S.FILLED, filled="10"), E.CANCEL_REQUEST),
        (at(S.CANCELED), E.REPLACE_REQUEST),
        (at(S.REJECTED), E.REPLACED),  # nothing was ever working
        (at(S.NEW), E.REJECT),  # acknowledged: the venue cannot reject it any more
        (at(S.PENDING_NEW, acked=False), E.REPLACE_REQUEST),
        (at(S.EXPIRED), E.CANCEL_REQUEST),
    ],
)
def test_illegal_transitions_are_domain_errors(position, event):
    with pytest.raises(IllegalTransition) as info:
        next_status(position, event, fill_quantity=Decimal(1) if event == E.FILL else Decimal(0))
    assert info.value.code == "illegal_transition"


def test_nothing_can_overfill():
    with pytest.raises(Overfill):
        next_status(at(S.PARTIALLY_FILLED, filled="8"), E.FILL, fill_quantity=Decimal("2.5"))
    with pytest.raises(IllegalTransition):
        next_status(at(S.NEW), E.FILL, fill_quantity=Decimal(0))


def test_every_status_and_event_is_covered_or_refused():
    """The table is total: every (status, event) either has an entry or raises — never a silent overwrite."""
    for status in Status:
        for event in Event:
            position = at(status, filled="10" if status == S.FILLED else "0")
            if (status, event) in TRANSITIONS:
                continue
            with pytest.raises((IllegalTransition, Overfill)):
                next_status(position, event, fill_quantity=Decimal(1))
