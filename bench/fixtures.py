"""The accounts the scenarios post between, created and funded through the services."""

from __future__ import annotations

from dataclasses import dataclass

FUNDING = "1000000.00"


@dataclass(frozen=True)
class Fixtures:
    actor_id: int
    #: trading account ids of the clients that transfers run between
    clients: list[int]
    #: their USD cash-available ledger account ids, in the same order
    cash: list[int]
    #: two more funded client ledger accounts, for the hot spot
    hot: tuple[int, int]
    #: the trading account whose EUR cash account receives the 100,000-entry history
    reader: int
    reader_cash: int
    #: the house EUR deposit-clearing account on the other side of that history
    reader_house: int


def _cash_account_id(trading_account_id: int, currency: str) -> int:
    from apps.ledger.models import LedgerAccount, Purpose

    return LedgerAccount.objects.get(
        trading_account_id=trading_account_id, purpose=Purpose.CASH_AVAILABLE, asset__code=currency
    ).pk


def create(*, clients: int) -> Fixtures:
    from apps.accounts.services import trading_account_create
    from apps.core.actors import system_actor
    from apps.ledger.models import Purpose
    from apps.ledger.selectors import asset_get
    from apps.ledger.services import cash_deposit, ledger_account_get_or_create

    actor = system_actor()
    accounts = [
        trading_account_create(actor=actor, name=f"Bench client {n}", base_currency="USD") for n in range(clients + 2)
    ]
    for account in accounts:
        cash_deposit(
            actor=actor, trading_account=account, currency="USD", amount=FUNDING, idempotency_key=f"fund-{account.pk}"
        )
    reader = trading_account_create(actor=actor, name="Bench statement reader", base_currency="EUR")
    house = ledger_account_get_or_create(
        trading_account_id=None, purpose=Purpose.DEPOSIT_CLEARING, asset=asset_get("EUR")
    )
    cash = [_cash_account_id(account.pk, "USD") for account in accounts]
    return Fixtures(
        actor_id=actor.pk,
        clients=[account.pk for account in accounts[:clients]],
        cash=cash[:clients],
        hot=(cash[clients], cash[clients + 1]),
        reader=reader.pk,
        reader_cash=_cash_account_id(reader.pk, "EUR"),
        reader_house=house.pk,
    )
