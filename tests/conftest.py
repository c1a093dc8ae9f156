"""Shared fixtures. Every test runs on real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.actors import system_actor
from apps.ledger import services
from apps.ledger.currencies import currencies_ensure
from apps.ledger.models import LedgerAccount, Purpose
from apps.ledger.selectors import asset_get
from apps.risk.defaults import firm_limits_ensure
from apps.users.roles import roles_ensure
from tests.factories import TradingAccountFactory


@pytest.fixture(autouse=True)
def _reference_data(request):  # type: ignore[no-untyped-def]
    """Transactional tests flush the database, migration data included: restore it."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    currencies_ensure()
    roles_ensure()
    firm_limits_ensure()
    system_actor()


@pytest.fixture
def actor(db):  # type: ignore[no-untyped-def]
    return system_actor()


@pytest.fixture
def usd(db):  # type: ignore[no-untyped-def]
    return asset_get("USD")


@pytest.fixture
def make_account(db):  # type: ignore[no-untyped-def]
    def make(**kwargs):  # type: ignore[no-untyped-def]
        return TradingAccountFactory(**kwargs)

    return make


@pytest.fixture
def account(make_account):  # type: ignore[no-untyped-def]
    return make_account()


def cash(account, purpose=Purpose.CASH_AVAILABLE, currency="USD") -> LedgerAccount:  # type: ignore[no-untyped-def]
    return LedgerAccount.objects.select_related("asset").get(
        trading_account=account, purpose=purpose, asset__code=currency
    )


def balance(account, purpose=Purpose.CASH_AVAILABLE, currency="USD") -> Decimal:  # type: ignore[no-untyped-def]
    return cash(account, purpose, currency).balance


@pytest.fixture
def funded(account, actor):  # type: ignore[no-untyped-def]
    """An account with 1,000.00 USD available."""
    services.cash_deposit(
        actor=actor, trading_account=account, currency="USD", amount="1000.00", idempotency_key=f"fund-{account.pk}"
    )
    return account


@pytest.fixture
def instrument(db, actor):  # type: ignore[no-untyped-def]
    """AAPL-like: tick 0.01, lot 1, reference price 100.00 now."""
    from apps.instruments.services import instrument_create, reference_price_set

    inst = instrument_create(actor=actor, symbol="ACME", name="Acme", currency="USD", tick_size="0.01", lot_size="1")
    reference_price_set(actor=actor, instrument=inst, price="100.00")
    inst.refresh_from_db()
    return inst
