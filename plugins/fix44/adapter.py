"""The FIX 4.4 adapter: the BrokerAdapter protocol over one FIX session.

Requests (submit, cancel, replace, status, mass status) need the live session, which only the
gateway process holds (``manage.py fix_gateway``): there the adapter is ``attach``-ed to the
engine's ``Link``; elsewhere they raise a transient ``BrokerError`` (the workers' relay never
calls them: the spec declares ``own_relay``). Reading what the venue sent (``poll``,
``acknowledge``, the journal half of ``order_status``) works in any process, from the journal.

A request is answered by the venue asynchronously; the adapter sends it, then waits (at most
``answer_timeout_seconds``) until the journal holds the answer, and returns the order's reports
the host has not acknowledged yet. No answer in time is ``BrokerTimeout``: the host resolves it
by ``order_status``, never by sending again blindly. No database lock is held while waiting
(the relay calls adapters outside its transactions).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.brokers.interface import (
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    BrokerTimeout,
    ExecType,
    ExecutionReport,
    Health,
    OrderTicket,
    ReplaceRequest,
    SubmitAnswer,
)
from plugins.fix44 import journal, mapping
from plugins.fix44.config import FixSettings
from plugins.fix44.engine import Link
from plugins.fix44.models import InboundReport, VenueSnapshot
from plugins.paper.simulator import CAPABILITIES

_REQUEST_ANSWERS = frozenset({ExecType.CANCEL_REJECTED, ExecType.REPLACE_REJECTED})
_ENDS = frozenset({ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED})
# the gateway refreshes its snapshot every SNAPSHOT_SECONDS; one older than SNAPSHOT_MAX_AGE is not
# served: the reconciliation skips what changed in its grace period (60 s), which must cover the age
SNAPSHOT_SECONDS = 20
SNAPSHOT_MAX_AGE = timedelta(seconds=45)


class FixBroker:
    """One FIX session as a broker. ``name`` is the broker (and session) name."""

    capabilities = CAPABILITIES

    def __init__(self, settings: FixSettings, *, name: str = "fix44") -> None:
        self.name = name
        self.settings = settings
        self.link: Link | None = None

    def attach(self, link: Link) -> None:
        self.link = link

    def _link(self) -> Link:
        if self.link is None:
            raise BrokerError(
                f"the FIX session {self.name} is held by its gateway process (manage.py fix_gateway)", transient=True
            )
        return self.link

    def _now(self) -> datetime:
        return timezone.now()

    # --- new orders ----------------------------------------------------------------------
    def submit(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        answer = self.submit_many([ticket])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def submit_many(self, tickets: Sequence[OrderTicket]) -> Sequence[SubmitAnswer]:
        """Send every ticket the venue has not answered yet, then wait for the answers together.
        A ticket whose order the journal already has answers every report the venue sent for it
        (never sent twice). A ticket the venue could not be sent (an order type or time in force
        FIX or the session does not carry) is rejected here, journaled like a venue's rejection."""
        link = self._link()
        ids = [t.order_id for t in tickets]
        known = self._lifecycle(ids)
        answers: dict[int, SubmitAnswer] = {}
        waiting: set[int] = set()
        for ticket in tickets:
            if ticket.order_id in known or ticket.order_id in answers or ticket.order_id in waiting:
                continue
            reason = self._refusal(ticket)
            if reason is not None:
                journal.record_local_rejection(self.name, ticket, reason, self._now())
                continue
            try:
                link.send("D", mapping.new_order_single(ticket, now=self._now()))
            except BrokerError as exc:
                answers[ticket.order_id] = exc
                continue
            waiting.add(ticket.order_id)
        if waiting:
            link.wait_for(lambda: waiting <= self._lifecycle(list(waiting)), self.settings.answer_timeout_seconds)
        reports = self._reports(ids)
        arrived = self._lifecycle(ids)
        result: list[SubmitAnswer] = []
        for ticket in tickets:
            if ticket.order_id in answers:
                result.append(answers[ticket.order_id])
            elif ticket.order_id in arrived:
                result.append(reports.get(ticket.order_id, []))
            else:
                result.append(BrokerTimeout(f"no answer from {self.name} to order {ticket.order_id} in time"))
        return result

    def _refusal(self, ticket: OrderTicket) -> str | None:
        if ticket.order_type not in self.capabilities.order_types:
            return f"order type {ticket.order_type!r} is not supported"
        if ticket.time_in_force not in self.capabilities.time_in_force:
            return f"time in force {ticket.time_in_force!r} is not supported"
        try:
            mapping.new_order_single(ticket, now=self._now())
        except ValueError as exc:
            return str(exc)
        return None

    # --- requests about a working order --------------------------------------------------
    def cancel(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        return self._request("F", mapping.cancel_request(ticket, now=self._now()), ticket, ExecType.CANCELED)

    def replace(self, ticket: OrderTicket, request: ReplaceRequest) -> Sequence[ExecutionReport]:
        fields = mapping.cancel_replace_request(ticket, request, now=self._now())
        return self._request("G", fields, ticket, ExecType.REPLACED)

    def _request(
        self, msg_type: str, fields: mapping.Fields, ticket: OrderTicket, done: ExecType
    ) -> Sequence[ExecutionReport]:
        """Send a cancel or replace and wait for its answer (or the order's end); returns what the
        venue sent about the order since the request went out."""
        link = self._link()
        mark = self._last_row(ticket.order_id)
        link.send(msg_type, fields)
        refused = ExecType.CANCEL_REJECTED if done == ExecType.CANCELED else ExecType.REPLACE_REJECTED
        answers = frozenset({done, refused})

        def answered() -> bool:
            return any(
                (r.request_id == ticket.request_id and r.exec_type in answers)
                or r.exec_type in _ENDS
                or (r.exec_type == ExecType.FILL and r.leaves_quantity == 0)
                for r in self._since(ticket.order_id, mark)
            )

        if not link.wait_for(answered, self.settings.answer_timeout_seconds):
            raise BrokerTimeout(f"no answer from {self.name} to request {ticket.request_id} in time")
        return self._since(ticket.order_id, mark)

    def order_status(self, ticket: OrderTicket) -> Sequence[ExecutionReport]:
        """Every report the venue sent for the order (the journal). With none, the venue is asked
        (OrderStatusRequest): an order it does not know answers nothing (the host may send it);
        one it knows, whose reports have not arrived yet, is a timeout (ask again later)."""
        known = journal.reports_for(self.name, ticket.order_id)
        if known:
            return known
        link = self._link()
        link.send("H", mapping.order_status_request(ticket))

        def mine(message: mapping.FixMessage) -> bool:
            return message.msg_type == "8" and message.get(150) == "I" and message.get(11) == ticket.request_id

        if not link.wait_for(lambda: bool(link.answers(mine)), self.settings.answer_timeout_seconds):
            raise BrokerTimeout(f"no answer from {self.name} to the status request for order {ticket.order_id}")
        status = mapping.venue_order(link.answers(mine)[-1])
        known = journal.reports_for(self.name, ticket.order_id)
        if known or not status.known:
            return known
        raise BrokerTimeout(f"{self.name} knows order {ticket.order_id} but its reports have not arrived yet")

    # --- what the venue sent -------------------------------------------------------------
    def poll(self) -> Sequence[ExecutionReport]:
        return journal.unacknowledged(self.name)

    def acknowledge(self, exec_ids: Sequence[str]) -> None:
        journal.acknowledge(self.name, exec_ids, self._now())

    def open_orders(self) -> Sequence[BrokerOrder]:
        """The venue's working orders, by OrderMassStatusRequest (AF): every answer until the last.
        Outside the gateway: its last snapshot, if recent (``snapshot``)."""
        if self.link is None:
            return self.snapshot()[0]
        link = self._link()
        req_id = f"MS-{uuid.uuid4().hex[:16]}"
        link.send("AF", mapping.order_mass_status_request(req_id))

        def mine(message: mapping.FixMessage) -> bool:
            return message.msg_type == "8" and message.get(584) == req_id

        def complete() -> bool:
            return any(mapping.venue_order(m).last_of_batch for m in link.answers(mine))

        if not link.wait_for(complete, self.settings.answer_timeout_seconds):
            raise BrokerTimeout(f"{self.name} did not answer the mass status request {req_id} in time")
        found = (mapping.broker_order(mapping.venue_order(m)) for m in link.answers(mine))
        return [order for order in found if order is not None]

    def positions(self) -> Sequence[BrokerPosition]:
        """The venue's positions, by RequestForPositions (AN) for every account the session has
        carried reports for: the acknowledgement (AO) says how many PositionReports (AP) follow.
        Outside the gateway: its last snapshot, if recent (``snapshot``)."""
        if self.link is None:
            return self.snapshot()[1]
        link = self._link()
        accounts = InboundReport.objects.filter(session=self.name).exclude(account="")
        found: list[BrokerPosition] = []
        for account in sorted(set(accounts.values_list("account", flat=True))):
            found += self._positions_of(link, account)
        return found

    def _positions_of(self, link: Link, account: str) -> list[BrokerPosition]:
        req_id = f"POS-{uuid.uuid4().hex[:16]}"
        now = self._now()
        link.send("AN", mapping.request_for_positions(req_id, account=account, business_date=now.date(), now=now))

        def mine(message: mapping.FixMessage) -> bool:
            return message.msg_type in ("AO", "AP") and message.get(710) == req_id

        def complete() -> bool:
            answers = link.answers(mine)
            acks = [m for m in answers if m.msg_type == "AO"]
            if not acks:
                return False
            if acks[0].get(728) not in ("0", "2"):
                return True
            return sum(m.msg_type == "AP" for m in answers) >= int(acks[0].get(727) or 0)

        if not link.wait_for(complete, self.settings.answer_timeout_seconds):
            raise BrokerTimeout(f"{self.name} did not answer the positions request {req_id} in time")
        answers = link.answers(mine)
        ack = next(m for m in answers if m.msg_type == "AO")
        if ack.get(728) not in ("0", "2"):
            raise BrokerError(f"{self.name} refused the positions request: 728={ack.get(728)} {ack.get(58) or ''}")
        return [position for m in answers if m.msg_type == "AP" for position in mapping.positions(m)]

    def snapshot_take(self) -> VenueSnapshot:
        """Ask the venue for its working orders and positions and keep the answer (the gateway
        does, after every logon and every ``SNAPSHOT_SECONDS``)."""
        orders, positions = self.open_orders(), self.positions()
        return VenueSnapshot.objects.create(
            session=self.name,
            taken_at=self._now(),
            open_orders=[{k: str(v) for k, v in dataclasses.asdict(o).items()} for o in orders],
            positions=[{k: str(v) for k, v in dataclasses.asdict(p).items()} for p in positions],
        )

    def snapshot(self) -> tuple[list[BrokerOrder], list[BrokerPosition]]:
        """The gateway's last snapshot, if taken within ``SNAPSHOT_MAX_AGE``: a process without the
        session answers from it (the reconciliation's grace period covers its age); older, or
        none, is ``BrokerError`` (is the gateway running?)."""
        latest = VenueSnapshot.objects.filter(session=self.name).order_by("-taken_at").first()
        if latest is None or latest.taken_at < self._now() - SNAPSHOT_MAX_AGE:
            raise BrokerError(
                f"no recent view of {self.name}: its gateway (manage.py fix_gateway) has not taken one "
                f"in the last {SNAPSHOT_MAX_AGE.total_seconds():.0f} s",
                transient=True,
            )
        orders = [
            BrokerOrder(
                order_id=int(o["order_id"]),
                broker_order_id=o["broker_order_id"],
                quantity=Decimal(o["quantity"]),
                cumulative_quantity=Decimal(o["cumulative_quantity"]),
                leaves_quantity=Decimal(o["leaves_quantity"]),
                status=o["status"],
                request_id=o["request_id"],
            )
            for o in latest.open_orders
        ]
        positions = [
            BrokerPosition(account_number=p["account_number"], symbol=p["symbol"], quantity=Decimal(p["quantity"]))
            for p in latest.positions
        ]
        return orders, positions

    def health(self) -> Health:
        if self.link is None:
            return Health(ok=True, detail="the session is held by its gateway process", checked_at=self._now())
        up = self.link.logged_on.is_set()
        return Health(ok=up, detail="logged on" if up else "not logged on", checked_at=self._now())

    # --- the journal, for many orders at once ---------------------------------------------
    def _lifecycle(self, order_ids: Sequence[int]) -> set[int]:
        """The orders the venue has answered for (any report but a reject of a cancel/replace)."""
        rows = InboundReport.objects.filter(session=self.name, order_id__in=list(order_ids), msg_type="8", problem="")
        return {order_id for order_id in rows.values_list("order_id", flat=True).distinct() if order_id is not None}

    def _reports(self, order_ids: Sequence[int]) -> dict[int, list[ExecutionReport]]:
        """Every report of these orders, oldest first."""
        rows = InboundReport.objects.filter(session=self.name, order_id__in=list(order_ids)).order_by("id")
        found: dict[int, list[ExecutionReport]] = {}
        for row in rows:
            assert row.order_id is not None
            found.setdefault(row.order_id, []).append(journal.report_of(row))
        return found

    def _last_row(self, order_id: int) -> int:
        last = InboundReport.objects.filter(session=self.name, order_id=order_id).order_by("-id").first()
        return last.pk if last is not None else 0

    def _since(self, order_id: int, mark: int) -> list[ExecutionReport]:
        rows = InboundReport.objects.filter(session=self.name, order_id=order_id, pk__gt=mark).order_by("id")
        return [journal.report_of(row) for row in rows]
