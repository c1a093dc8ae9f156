"""factory_boy factories. Accounts and instruments go through their services so that the
ledger accounts and assets they need exist, exactly as in production."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.accounts.services import trading_account_create
from apps.core.actors import system_actor
from apps.instruments.services import instrument_create
from apps.users.models import User


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class TradingAccountFactory(factory.Factory):
    class Meta:
        model = dict  # built by the service below

    name = factory.Sequence(lambda n: f"Account {n}")
    base_currency = "USD"
    owner = None

    @classmethod
    def _create(cls, model_class, **kwargs):  # type: ignore[no-untyped-def]
        return trading_account_create(actor=system_actor(), **kwargs)

    _build = _create


class InstrumentFactory(factory.Factory):
    class Meta:
        model = dict

    symbol = factory.Sequence(lambda n: f"SYM{n}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Inc.")
    currency = "USD"
    tick_size = "0.01"
    lot_size = "1"

    @classmethod
    def _create(cls, model_class, **kwargs):  # type: ignore[no-untyped-def]
        return instrument_create(actor=system_actor(), **kwargs)

    _build = _create
