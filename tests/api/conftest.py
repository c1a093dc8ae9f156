"""API fixtures: one user per role, authenticated with real JWT bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.services import account_access_grant
from apps.core.actors import system_actor
from apps.ledger import services as ledger_services
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"
ROLES = ("anonymous", "unrelated", "viewer", "trader", "operations", "compliance")


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()  # throttle and failed-log-in counters


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@dataclass
class World:
    """An account held by ``trader`` (view + trade) and shown to ``viewer`` (view only)."""

    users: dict[str, Any]
    account: Any
    other_account: Any

    def client(self, role: str) -> APIClient:
        return client_for(self.users.get(role))


def populate_world() -> World:
    """The users of every role, the trader's funded account and someone else's account (the
    instrument ACME is made by the caller)."""
    from apps.accounts.services import trading_account_create

    actor = system_actor()
    users: dict[str, Any] = {"anonymous": None}
    for role in ROLES[1:]:
        users[role] = UserFactory(username=f"api-{role}")
    Group.objects.get(name=OPERATIONS).user_set.add(users["operations"])
    Group.objects.get(name=COMPLIANCE).user_set.add(users["compliance"])
    account = trading_account_create(actor=actor, name="Trader account", base_currency="USD", owner=users["trader"])
    account_access_grant(actor=actor, account=account, user=users["viewer"], permissions=["view"])
    ledger_services.cash_deposit(
        actor=actor,
        trading_account=account,
        currency="USD",
        amount="100000.00",
        idempotency_key=f"api-fund-{account.pk}",
    )
    other = trading_account_create(actor=actor, name="Someone else", base_currency="USD", owner=users["unrelated"])
    return World(users=users, account=account, other_account=other)


@pytest.fixture
def world(db, instrument) -> World:  # type: ignore[no-untyped-def]
    return populate_world()
