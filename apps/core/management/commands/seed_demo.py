"""``manage.py seed_demo``: demo users, accounts, cash, instruments and a hold. Idempotent.

Everything that moves value goes through the services with fixed idempotency keys, so a
second run changes nothing. Passwords are set only when a user is created. For local
demonstration only: the log-ins are printed in the README and by ``make run``. It refuses to run
where ``settings.DEMO_DATA_ALLOWED`` is not true (production settings turn it off).

The demo accounts are opened and funded as of an hour before the last session close (the clock
is moved with time_machine, a development dependency), so that the reports of the latest closed
business date, which beat produces within minutes of ``make run``, have a statement per client
to show. Report recipients: each client receives their statement; ``compliance@example.test``
every firm-wide report (``var/mail`` locally).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.accounts.services import trading_account_create
from apps.core.actors import system_actor
from apps.instruments.models import ReferencePrice
from apps.instruments.selectors import instrument_get
from apps.instruments.services import instrument_create, reference_price_set
from apps.ledger.models import AssetKind, Purpose
from apps.ledger.selectors import ledger_account_get
from apps.ledger.services import asset_create, cash_deposit, hold_reserve
from apps.orders.calendar import last_close
from apps.reports.kinds import KINDS, Scope
from apps.reports.models import ReportRecipient
from apps.users.models import User
from apps.users.roles import COMPLIANCE, OPERATIONS, roles_ensure

# (username, password, what the user is) - shown by `make run` and in the README.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", "admin", "superuser"),
    ("ops", "ops-demo", "staff, operations"),
    ("compliance", "compliance-demo", "staff, compliance"),
    ("alice", "alice-demo", "client"),
    ("bob", "bob-demo", "client"),
]
STAFF_GROUPS = {"ops": OPERATIONS, "compliance": COMPLIANCE}
# client -> (account name, USD deposited)
CLIENTS = {"alice": ("Alice Demo", Decimal("100000.00")), "bob": ("Bob Demo", Decimal("25000.00"))}
INSTRUMENTS = [
    ("AAPL", "Apple Inc.", "189.25"),
    ("MSFT", "Microsoft Corporation", "415.10"),
    ("SPY", "SPDR S&P 500 ETF Trust", "512.40"),
]
HOLD = ("alice", Decimal("1892.50"), "demo: buy 10 AAPL")


def _before_last_close() -> AbstractContextManager[object]:
    """The clock an hour before the last session close, if time_machine is installed."""
    try:
        import time_machine
    except ImportError:  # a runtime-only install: the demo is funded now
        return nullcontext()
    close = last_close(timezone.now())
    return time_machine.travel(close - timedelta(hours=1), tick=True) if close else nullcontext()


def _user(username: str, password: str, *, superuser: bool = False, staff: bool = False) -> tuple[User, bool]:
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.test", "is_active": True}
    )
    wanted = {"is_superuser": superuser, "is_staff": staff or superuser}
    changed = [key for key, value in wanted.items() if getattr(user, key) != value]
    for key in changed:
        setattr(user, key, wanted[key])
    if created:
        user.set_password(password)
    if created or changed:
        user.save()
    return user, created


class Command(BaseCommand):
    help = "Create demo users, trading accounts, cash, instruments and a hold (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "DEMO_DATA_ALLOWED", False):
            raise CommandError(
                "seed_demo refuses to run here: it creates users with published passwords (admin/admin) "
                "and demo money, and settings.DEMO_DATA_ALLOWED is off (as in production settings)."
            )
        actor = system_actor()
        self._roles_and_users()
        # A migration creates USD; a flushed test database no longer has it.
        asset_create(actor=actor, code="USD", kind=AssetKind.CURRENCY, scale=2, name="US dollar")
        with _before_last_close():
            self._clients(actor)
        self._instruments_and_hold(actor)
        self._recipients()
        self.stdout.write(self.style.SUCCESS("demo data ready"))

    def _clients(self, actor: User) -> None:
        for username, (name, amount) in CLIENTS.items():
            owner = User.objects.get(username=username)
            account = TradingAccount.objects.filter(owners=owner, name=name).order_by("pk").first()
            if account is None:
                account = trading_account_create(actor=actor, name=name, base_currency="USD", owner=owner)
                self.stdout.write(f"opened trading account {account.number} for {username}")
            cash_deposit(
                actor=actor,
                trading_account=account,
                currency="USD",
                amount=amount,
                idempotency_key=f"demo:deposit:{username}",
                memo="Demo deposit",
            )

    def _instruments_and_hold(self, actor: User) -> None:
        for symbol, name, price in INSTRUMENTS:
            instrument = instrument_get(symbol) or instrument_create(
                actor=actor, symbol=symbol, name=name, currency="USD", tick_size="0.01", lot_size="1"
            )
            if not ReferencePrice.objects.filter(instrument=instrument).exists():
                reference_price_set(actor=actor, instrument=instrument, price=price, source="demo")
        username, amount, memo = HOLD
        account = TradingAccount.objects.filter(owners__username=username, name=CLIENTS[username][0]).first()
        assert account is not None
        available = ledger_account_get(trading_account_id=account.pk, purpose=Purpose.CASH_AVAILABLE, asset_code="USD")
        assert available is not None
        hold_reserve(
            actor=actor,
            account=available,
            amount=amount,
            idempotency_key=f"demo:hold:{username}",
            reference="demo-order-1",
            memo=memo,
        )

    def _recipients(self) -> None:
        for key, kind in sorted(KINDS.items()):
            if kind.scope == Scope.ACCOUNT:
                ReportRecipient.objects.get_or_create(kind=key, email="", account_owners=True)
            else:
                ReportRecipient.objects.get_or_create(kind=key, email="compliance@example.test", account_owners=False)

    def _roles_and_users(self) -> None:
        # The role groups and their permissions belong to a migration (apps/users/roles.py):
        # restore them if they were deleted, then only put the demo users in them and mark staff.
        with transaction.atomic():
            roles_ensure()
            for username, password, _ in DEMO_LOGINS:
                user, created = _user(username, password, superuser=username == "admin", staff=username in STAFF_GROUPS)
                if created:
                    self.stdout.write(f"created user {username}")
                if username in STAFF_GROUPS and not user.groups.filter(name=STAFF_GROUPS[username]).exists():
                    user.groups.add(Group.objects.get(name=STAFF_GROUPS[username]))
