"""GDPR: pseudonymising a former client while the records stay verifiable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from apps.core.errors import BusinessRuleViolation, Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from apps.users.models import User

# --- GDPR pseudonymisation -----------------------------------------------------------------

PSEUDONYM_PREFIX = "former-client-"
#: The personal data the user model holds (AbstractUser: no address or phone fields exist).
PERSONAL_FIELDS = ("username", "first_name", "last_name", "email")
ERASED = "[erased]"


def pseudonym_for(user_id: int) -> str:
    return f"{PSEUDONYM_PREFIX}{user_id}"


@dataclass(frozen=True)
class Pseudonymisation:
    user_id: int
    pseudonym: str
    already_done: bool
    log_entry_id: int | None


def client_pseudonymise(*, actor: User, username: str) -> Pseudonymisation:
    """Replace a former client's personal data with a stable pseudonym and deactivate them.

    Refused (``Forbidden`` / ``BusinessRuleViolation``, nothing changed) for staff, superusers,
    the system actor and members of a staff role; and while any of the client's trading accounts
    has a non-zero balance on any ledger account (whatever the account's status) or an open
    order. The user row is kept (the ledger, orders and audit log reference it by id, and the
    hash chains hash ids, never names), so every chain stays intact and verifiable.

    The change is saved with django-auditlog's automatic logging switched off (it would copy
    the old values into a new, append-only entry) and recorded instead by one explicit audit
    entry naming the actor, with the old values replaced by ``[erased]``."""
    from auditlog.context import disable_auditlog
    from auditlog.models import LogEntry

    from apps.accounts.models import TradingAccount
    from apps.core.context import current
    from apps.ledger.models import LedgerAccount
    from apps.orders.models import Order
    from apps.orders.state import OPEN
    from apps.users.models import User

    with transaction.atomic(durable=True):
        user = User.objects.select_for_update().filter(username=username).first()
        if user is None:
            raise NotFound(f"No user named {username!r}.", code="user_not_found")
        pseudonym = pseudonym_for(user.pk)
        if user.username == pseudonym and not user.is_active:
            return Pseudonymisation(user.pk, pseudonym, already_done=True, log_entry_id=None)
        if user.is_staff or user.is_superuser or user.username == settings.SYSTEM_USERNAME or user.groups.exists():
            raise Forbidden(
                f"{username!r} is staff (or the system actor): only former clients are pseudonymised.",
                code="not_a_client",
            )
        accounts = TradingAccount.objects.filter(owners=user)
        open_orders = Order.objects.filter(account__in=accounts, status__in=[s.value for s in OPEN]).count()
        if open_orders:
            raise BusinessRuleViolation(
                f"{username!r} still has {open_orders} open order(s).", code="client_has_orders"
            )
        funded = sorted(
            LedgerAccount.objects.filter(trading_account__in=accounts)
            .exclude(balance=0)
            .order_by("trading_account__number")
            .values_list("trading_account__number", flat=True)
            .distinct()
        )
        if funded:
            raise BusinessRuleViolation(
                f"{username!r} still has a non-zero balance on account(s) {', '.join(funded)}.",
                code="client_has_balance",
            )
        if User.objects.filter(username=pseudonym).exclude(pk=user.pk).exists():
            raise Conflict(f"The pseudonym {pseudonym!r} is taken by another user.", code="pseudonym_taken")

        changes: dict[str, list[object]] = {}
        for name in PERSONAL_FIELDS:
            old, new = getattr(user, name), pseudonym if name == "username" else ""
            if old != new:
                changes[name] = [ERASED if old else old, new]
        if user.is_active:
            changes["is_active"] = [True, False]
        changes["password"] = [ERASED, "[unusable]"]
        user.username = pseudonym
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        with disable_auditlog():
            user.save(update_fields=[*PERSONAL_FIELDS, "is_active", "password"])
        context = current()
        entry = LogEntry.objects.log_create(
            user,
            force_log=True,
            action=LogEntry.Action.UPDATE,
            changes=changes,
            actor=actor,
            serialized_data=None,
            remote_addr=context.source_ip,
            additional_data={
                "event": "gdpr_pseudonymisation",
                "pseudonym": pseudonym,
                "legal_basis": (
                    "GDPR Art. 17 erasure of the client's identity on the user record; the books and records "
                    "(ledger, orders, order events, audit log) are kept under Art. 17(3)(b) "
                    "(SEC 17a-4, MiFID II Art. 16(6))"
                ),
                "correlation_id": context.correlation_id,
            },
        )
    return Pseudonymisation(user.pk, pseudonym, already_done=False, log_entry_id=entry.pk if entry else None)
