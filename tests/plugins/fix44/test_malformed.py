"""Bad bytes from the counterparty, built with simplefix (the engine refuses to produce them),
written on the live session: a garbled message (wrong checksum, wrong body length) is discarded
by the engine (a wrong length loses the stream's framing: the engine reconnects); nothing is
journaled or booked, and the next order still goes out and comes back filled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import simplefix

from apps.brokers.models import ExecutionReportRecord
from plugins.fix44.models import InboundReport
from tests.plugins.fix44.test_gateway import eventually, line, place, status_of, venue_settings  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def execution_report(order_id: int) -> simplefix.FixMessage:
    """A fill for ``order_id``, well formed but for what a test breaks."""
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4")
    message.append_pair(35, "8")
    message.append_pair(34, 999_999)
    message.append_pair(49, "VENUE")
    message.append_pair(52, datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f"))
    message.append_pair(56, "BACKOFFICE")
    for tag, value in [(6, "100"), (11, order_id), (14, "10"), (17, "EVIL-1"), (31, "100"), (32, "10")]:
        message.append_pair(tag, value)
    for tag, value in [(37, "X"), (39, "2"), (54, "1"), (55, "ACME"), (150, "F"), (151, "0")]:
        message.append_pair(tag, value)
    return message


@pytest.mark.parametrize(
    ("breakage", "may_reconnect"),
    [
        pytest.param(lambda raw: raw[:-4] + b"000\x01", False, id="wrong checksum"),
        # the stream's framing is lost: the engine drops the line and logs on again (resend, gap fill)
        pytest.param(lambda raw: raw.replace(b"\x019=", b"\x019=1", 1), True, id="wrong body length"),
    ],
)
def test_a_garbled_message_is_discarded_and_changes_nothing(line, actor, account, breakage, may_reconnect):  # noqa: F811
    logons = line.gateway.link.logons
    raw = breakage(execution_report(424242).encode())
    line.venue.send_raw(raw)
    order = place(actor, account)  # the session carries on: this order round-trips after it
    eventually(lambda: status_of(order) == "filled")
    assert not InboundReport.objects.filter(exec_id="EVIL-1").exists()
    assert not ExecutionReportRecord.objects.filter(exec_id="EVIL-1").exists()
    assert not InboundReport.objects.exclude(problem="").exists()
    if not may_reconnect:
        assert line.gateway.link.logons == logons  # discarded in stride: no reconnect
