"""The order state machine, after FIX 4.4 (OrdStatus 39): one table defines every allowed
transition. An event not in the table for the order's status is a domain error
(``illegal_transition``), never a silent overwrite.

The table tolerates what real venues do (FIX 4.4 Appendix D orderings):

- a fill may arrive while a cancel or replace is pending, or after the cancel (or expiry) was
  confirmed: it is still booked (the caller flags late fills for review);
- a replace and a cancel can be outstanding at once (a cancel sent while a replace is
  unanswered): the status is ``pending_cancel`` (FIX: Pending Cancel outranks Pending Replace)
  and ``Position.replace_pending`` says a replace is still unanswered, so the venue's REPLACED
  or replace reject is applied in ``pending_cancel`` too, and a cancel reject returns the order
  to ``pending_replace``;
- a rejected cancel or replace returns the order to its working status; an answer to a request
  that is no longer pending (a stale or reordered one) changes no status;
- filled outranks canceled and replaced: a cancel confirmation for a filled order changes nothing,
  and a replace down to or below the filled quantity leaves the order filled;
- a new order the venue rejects after a cancel was requested ends rejected;
- an IOC or FOK that cannot execute ends canceled (the venue cancels it), not rejected.

``WORKING`` resolves to ``partially_filled`` when something has filled, else ``new`` (or
``pending_new`` while the venue has not acknowledged the order), or ``pending_replace`` while
a replace is unanswered. ``BY_FILL`` resolves to ``filled`` when nothing is left, else stays
or becomes ``partially_filled`` (or keeps the pending state it was in).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.core.errors import BusinessRuleViolation


class Status(StrEnum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Event(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # venue accepted the order (ExecType=New)
    REJECT = "reject"  # risk or venue rejected a new order
    FILL = "fill"  # a (partial) execution
    CANCEL_REQUEST = "cancel_request"
    CANCELED = "canceled"  # venue confirmed a cancel (solicited or not: IOC/FOK remainder)
    CANCEL_REJECT = "cancel_reject"
    REPLACE_REQUEST = "replace_request"
    REPLACED = "replaced"
    REPLACE_REJECT = "replace_reject"
    EXPIRE = "expire"


TERMINAL = frozenset({Status.FILLED, Status.CANCELED, Status.REJECTED, Status.EXPIRED})
OPEN = frozenset(set(Status) - TERMINAL)
WORKING = "WORKING"
BY_FILL = "BY_FILL"
SAME = "SAME"

S, E = Status, Event
_live = (S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED)
TRANSITIONS: dict[tuple[Status, Event], Status | str] = {
    (S.PENDING_NEW, E.ACKNOWLEDGE): S.NEW,
    (S.PENDING_NEW, E.REJECT): S.REJECTED,
    (S.PENDING_CANCEL, E.REJECT): S.REJECTED,  # the venue refused the order before our cancel reached it
    # A late acknowledgement while a request is pending, or after a fill, changes no status.
    **{(s, E.ACKNOWLEDGE): SAME for s in (S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE)},
    (S.CANCELED, E.ACKNOWLEDGE): SAME,
    (S.EXPIRED, E.ACKNOWLEDGE): SAME,
    # Fills: booked in every state but rejected (nothing was ever working) and filled (overfill).
    **{(s, E.FILL): BY_FILL for s in (*_live, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED)},
    # Cancels
    **{(s, E.CANCEL_REQUEST): S.PENDING_CANCEL for s in (*_live, S.PENDING_REPLACE)},
    **{(s, E.CANCELED): S.CANCELED for s in (*_live, S.PENDING_CANCEL, S.PENDING_REPLACE)},
    (S.FILLED, E.CANCELED): SAME,  # filled outranks canceled
    (S.CANCELED, E.CANCELED): SAME,
    (S.EXPIRED, E.CANCELED): SAME,  # we expired it and told the venue: its answer changes nothing
    (S.PENDING_CANCEL, E.CANCEL_REJECT): WORKING,
    # A cancel reject when no cancel is pending answers an older request, or a cancel that reached
    # the venue after the order ended there (rejected included: "too late"): nothing changes.
    **{(s, E.CANCEL_REJECT): SAME for s in (*_live, S.PENDING_REPLACE, *TERMINAL)},
    # Replaces
    (S.NEW, E.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.PARTIALLY_FILLED, E.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, E.REPLACED): BY_FILL,  # WORKING, or FILLED if the new quantity is already filled
    (S.PENDING_CANCEL, E.REPLACED): BY_FILL,  # still pending cancel, or FILLED
    **{(s, E.REPLACED): BY_FILL for s in _live},  # unsolicited, or answered after a reordered report
    **{(s, E.REPLACED): SAME for s in (S.FILLED, S.CANCELED, S.EXPIRED)},  # filled outranks replaced
    (S.PENDING_REPLACE, E.REPLACE_REJECT): WORKING,
    **{(s, E.REPLACE_REJECT): SAME for s in (*_live, S.PENDING_CANCEL, *TERMINAL)},
    # Expiry (DAY orders at the close, GTD...), confirmed by the venue or decided here
    **{(s, E.EXPIRE): S.EXPIRED for s in (*_live, S.PENDING_CANCEL, S.PENDING_REPLACE)},
    **{(s, E.EXPIRE): SAME for s in (S.FILLED, S.CANCELED, S.EXPIRED)},
}


class IllegalTransition(BusinessRuleViolation):
    code = "illegal_transition"


class Overfill(BusinessRuleViolation):
    code = "overfill"


@dataclass(frozen=True)
class Position:
    """What the machine needs to know about an order to resolve WORKING and BY_FILL."""

    status: Status
    quantity: Decimal
    filled: Decimal
    acknowledged: bool
    replace_pending: bool = False


def next_status(current: Position, event: Event, *, fill_quantity: Decimal = Decimal(0)) -> Status:
    """The status after ``event``; raises ``illegal_transition`` or ``overfill``."""
    target = TRANSITIONS.get((current.status, event))
    if target is None:
        raise IllegalTransition(f"An order that is {current.status} cannot take the event {event}.")
    filled = current.filled + fill_quantity
    if event == Event.FILL:
        if fill_quantity <= 0:
            raise IllegalTransition("A fill must have a positive quantity.")
        if filled > current.quantity:
            raise Overfill(f"A fill of {fill_quantity} would fill {filled} of {current.quantity}.")
    if target == SAME:
        return current.status
    if target == WORKING:
        return _working(current, filled)
    if target == BY_FILL:
        if filled >= current.quantity:
            return Status.FILLED
        if current.status in (Status.PENDING_CANCEL, Status.CANCELED, Status.EXPIRED) or (
            current.status == Status.PENDING_REPLACE and event == Event.FILL
        ):
            return current.status  # still waiting for the venue's answer, or late fill after the end
        return _working(current, filled)
    return Status(target)


def _working(current: Position, filled: Decimal) -> Status:
    if current.replace_pending and current.status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
        return Status.PENDING_REPLACE  # a replace is still unanswered (the cancel was refused, or a stale answer)
    if filled > 0:
        return Status.PARTIALLY_FILLED
    return Status.NEW if current.acknowledged else Status.PENDING_NEW
