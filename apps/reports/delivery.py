"""Delivering a run: its files by e-mail (Django's mail API) to the recipients configured for its
kind, each attempt recorded (``ReportDelivery``). A failure to one recipient is recorded and never
stops the others; the run itself stays succeeded (its files are stored whatever the mail does)."""

from __future__ import annotations

import logging
from email import encoders
from email.mime.base import MIMEBase

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from apps.reports.kinds import kind_get
from apps.reports.models import DeliveryStatus, ReportDelivery, ReportRecipient, ReportRun, RunStatus
from apps.reports.services import report_file_read

logger = logging.getLogger(__name__)


def _attachment(name: str, data: bytes, content_type: str) -> MIMEBase:
    """A base64 part, so that every file arrives byte for byte (a text part would have its line
    ends rewritten on the way) and matches the SHA-256 the message lists."""
    main, _, sub = content_type.partition("/")
    part = MIMEBase(main, sub or "octet-stream")
    part.set_payload(data)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def recipients_for(run: ReportRun) -> list[str]:
    """The addresses a run goes to: the kind's active recipients, and for a per-account run the
    account owners' addresses where a recipient asks for them. Sorted, without duplicates."""
    addresses: set[str] = set()
    for recipient in ReportRecipient.objects.filter(kind=run.kind, active=True):
        if recipient.email:
            addresses.add(recipient.email.lower())
        if recipient.account_owners and run.account is not None:
            addresses.update(
                email.lower()
                for email in run.account.owners.filter(is_active=True).values_list("email", flat=True)
                if email
            )
    return sorted(addresses)


def report_run_deliver(*, run: ReportRun) -> list[ReportDelivery]:
    """E-mail a succeeded run's files to each of its recipients (one message each)."""
    if run.status != RunStatus.SUCCEEDED:
        return []
    spec = kind_get(run.kind)
    files = list(run.files.all())
    attachments = [(f.name, report_file_read(file=f), f.content_type) for f in files]
    scope = f" for account {run.account.number}" if run.account is not None else ""
    subject = f"{spec.title}{scope}: {run.business_date.isoformat()}"
    body = (
        f"{spec.title}{scope}, business date {run.business_date.isoformat()} "
        f"(period {run.period_start.isoformat()} to {run.period_end.isoformat()} UTC).\n\n"
        + "".join(f"{f.name}: {f.size} bytes, SHA-256 {f.sha256}\n" for f in files)
    )
    deliveries = []
    for address in recipients_for(run):
        message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[address])
        for name, data, content_type in attachments:
            message.attach(_attachment(name, data, content_type))
        try:
            message.send(fail_silently=False)
            status, error = DeliveryStatus.SENT, ""
        except Exception as exc:  # any transport failure is recorded for this recipient only
            logger.warning("delivery of report run %s to %s failed: %s", run.pk, address, exc)
            status, error = DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        deliveries.append(
            ReportDelivery.objects.create(
                run=run, channel="email", recipient=address, status=status, error=error, at=timezone.now()
            )
        )
    return deliveries
