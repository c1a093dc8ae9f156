"""Delivery by e-mail through a real local SMTP server (aiosmtpd): the message, its attachments
byte for byte, per-recipient results, and the account owners of a statement."""

from __future__ import annotations

import email
import hashlib
import socket
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from apps.reports.models import ReportDelivery, ReportRecipient
from apps.reports.services import report_run_execute
from tests.factories import UserFactory
from tests.reports.scenario import MONDAY, build

pytestmark = pytest.mark.django_db
REFUSED = "nobody@refused.test"


class Inbox:
    """An SMTP handler that keeps what it receives and refuses one address."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REFUSED:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    try:
        yield inbox
    finally:
        controller.stop()


def test_a_statement_is_mailed_to_the_owners_and_the_archive_with_its_files(actor, smtp):
    scenario = build(actor)
    scenario.account.owners.add(UserFactory(email="Owner@Client.test"), UserFactory(email="", username="no-mail"))
    ReportRecipient.objects.create(kind="statement", account_owners=True)
    ReportRecipient.objects.create(kind="statement", email="archive@broker.test")
    ReportRecipient.objects.create(kind="statement", email="old@broker.test", active=False)
    ReportRecipient.objects.create(kind="eod_positions", email="risk@broker.test")  # another kind
    run = report_run_execute(
        actor=actor, kind="statement", business_date=MONDAY, account_id=scenario.account.pk, deliver=True
    )
    assert sorted(r for rcpts, _ in smtp.messages for r in rcpts) == ["archive@broker.test", "owner@client.test"]
    files = {f.name: f.sha256 for f in run.files.all()}
    for _, message in smtp.messages:
        assert scenario.account.number in message["Subject"] and "2026-11-30" in message["Subject"]
        attached = {
            part.get_filename(): hashlib.sha256(part.get_payload(decode=True)).hexdigest()
            for part in message.walk()
            if part.get_filename()
        }
        assert attached == files
    assert sorted(ReportDelivery.objects.filter(run=run).values_list("recipient", "status")) == [
        ("archive@broker.test", "sent"),
        ("owner@client.test", "sent"),
    ]


def test_a_refused_recipient_is_recorded_and_the_others_still_receive(actor, smtp):
    build(actor)
    ReportRecipient.objects.create(kind="eod_positions", email=REFUSED)
    ReportRecipient.objects.create(kind="eod_positions", email="risk@broker.test")
    run = report_run_execute(actor=actor, kind="eod_positions", business_date=MONDAY, deliver=True)
    assert run.status == "succeeded"
    outcome = {d.recipient: (d.status, d.error) for d in run.deliveries.all()}
    assert outcome["risk@broker.test"] == ("sent", "")
    assert outcome[REFUSED][0] == "failed" and "550" in outcome[REFUSED][1]
    assert [rcpts for rcpts, _ in smtp.messages] == [["risk@broker.test"]]
