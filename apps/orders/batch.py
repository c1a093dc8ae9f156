"""Placing orders in batches: many orders, one durable transaction.

Each item is answered on its own, exactly as a single placement would answer it: the order
(accepted, or rejected by risk and stored as evidence), a replay of an earlier order with the same
``client_order_id`` and terms, or the error that stored nothing (malformed terms, an unknown
instrument or account, a ``client_order_id`` already used for other terms). One item's error never
rejects another.

What is done per batch rather than per order:

- the instruments, trading accounts, currencies and balance rows of the whole batch are read with
  one query each;
- every balance row the batch touches is locked in **one** statement, in primary-key order (the
  global lock order, so batches and single postings never deadlock);
- replays are found with one query for the whole batch, and on a race with a concurrent placement
  of the same ``client_order_id`` (the unique constraint) the batch is retried once and the
  conflicting items become replays;
- the commit wakes the relay loops (the outbox insert notifies them).

Risk is evaluated per order, in request order, against the locked balances as earlier orders of
the batch left them: two orders of one account in one batch see each other's holds, open-order
count and notional. A single order is a batch of one (``order_place``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.brokers import outbox
from apps.core import context, faults
from apps.core.context import RequestContext
from apps.core.db import atomic_with_retry
from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument
from apps.ledger import locks as ledger_locks
from apps.ledger.batching import KEY_CONSTRAINT
from apps.ledger.models import Asset, LedgerAccount
from apps.ledger.selectors import asset_get
from apps.ledger.services import ledger_accounts_resolve
from apps.orders import errors
from apps.orders.acceptance import Acceptance
from apps.orders.models import Order
from apps.orders.risk_inputs import BatchInputs, balance_kinds
from apps.orders.validation import Terms, check_against_instrument, client_order_id_or_new, parse_terms

if TYPE_CHECKING:
    from apps.users.models import User

ORDER_CONSTRAINT = "order_client_order_id_per_account"
RACES = frozenset({ORDER_CONSTRAINT, KEY_CONSTRAINT})  # a concurrent twin committed first
MAX_BATCH = 500
RACE_RETRIES = 2  # a second attempt sees every conflicting order as a replay


@dataclass
class OrderRequest:
    """One order to place, as a client gave it (the services validate every field)."""

    account: TradingAccount | int
    symbol: Any
    side: Any
    type: Any
    quantity: Any
    limit_price: Any = None
    stop_price: Any = None
    time_in_force: Any = "day"
    client_order_id: Any = None
    #: who places it and in which unit of work, when not the batch's caller (a group commit)
    actor: User | None = None
    context: RequestContext | None = None


@dataclass
class Placed:
    """The answer to one item: ``order`` (``order.replayed`` tells a replay) or ``error``."""

    order: Order | None = None
    error: ApplicationError | None = None


@dataclass
class _Ready:
    """An item that passed validation: everything placement needs, read before the locks."""

    index: int
    account: TradingAccount
    instrument: Instrument
    currency: Asset
    terms: Terms
    coid: str
    fp: str
    actor: User
    context: RequestContext
    balances: dict[str, LedgerAccount] = field(default_factory=dict)


def order_place_batch(*, actor: User, requests: Sequence[OrderRequest]) -> list[Placed]:
    """Place up to ``MAX_BATCH`` orders in one transaction; one answer per request, in order."""
    if len(requests) > MAX_BATCH:
        raise errors.InvalidOrder(f"A batch holds at most {MAX_BATCH} orders.", field="orders")
    answers = [Placed() for _ in requests]
    ready = _prepare(actor, requests, answers)
    if not ready:
        return answers
    for attempt in range(RACE_RETRIES):
        try:
            placed = _place_all(ready)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
            if constraint not in RACES or attempt == RACE_RETRIES - 1:
                raise
            continue
        for item in ready:
            answers[item.index] = placed[item.index]
        break
    return answers


def _prepare(actor: User, requests: Sequence[OrderRequest], answers: list[Placed]) -> list[_Ready]:
    """Validate every request and read what placement needs, a query per kind for the batch.
    A request that fails gets its error; nothing is stored for it."""
    symbols = {r.symbol for r in requests if isinstance(r.symbol, str) and r.symbol}
    instruments = {
        i.symbol: i for i in Instrument.objects.select_related("reference_price", "asset").filter(symbol__in=symbols)
    }
    ids = {_account_id(r.account) for r in requests}
    ids.discard(None)
    accounts = {a.pk: a for a in TradingAccount.objects.filter(pk__in=ids)} if ids else {}
    currencies: dict[str, Asset] = {}
    ready: list[_Ready] = []
    for index, request in enumerate(requests):
        try:
            terms = parse_terms(
                side=request.side,
                type=request.type,
                quantity=request.quantity,
                limit_price=request.limit_price,
                stop_price=request.stop_price,
                time_in_force=request.time_in_force,
            )
            coid = client_order_id_or_new(request.client_order_id)
            if not isinstance(request.symbol, str) or not request.symbol:
                raise errors.UnknownInstrument("symbol is required.", field="symbol")
            instrument = instruments.get(request.symbol)
            if instrument is None:
                raise errors.UnknownInstrument(f"Unknown instrument {request.symbol!r}.", field="symbol")
            check_against_instrument(terms, instrument)
            account = accounts.get(_account_id(request.account))  # type: ignore[arg-type]
            if account is None:
                raise errors.UnknownAccount("Unknown trading account.")
        except ApplicationError as exc:
            answers[index].error = exc
            continue
        if instrument.currency not in currencies:
            currencies[instrument.currency] = asset_get(instrument.currency)
        currency = currencies[instrument.currency]
        ready.append(
            _Ready(
                index,
                account,
                instrument,
                currency,
                terms,
                coid,
                terms.fingerprint(request.symbol),
                request.actor or actor,
                request.context or context.current(),
            )
        )
    _resolve_balances(ready)
    return ready


def _account_id(account: TradingAccount | int | Any) -> int | None:
    if isinstance(account, TradingAccount):
        return account.pk
    return account if isinstance(account, int) and not isinstance(account, bool) else None


def _resolve_balances(ready: list[_Ready]) -> None:
    """The four balance rows of every item (cash and position, available and reserved), one
    lookup for the batch; rows are opened on first use."""
    wanted: dict[tuple[int, str, int], tuple[int, str, Asset]] = {}
    for item in ready:
        for purpose, asset in _balance_kinds(item):
            wanted[(item.account.pk, purpose, asset.pk)] = (item.account.pk, purpose, asset)
    if not wanted:
        return
    found = ledger_accounts_resolve(list(wanted.values()))
    for item in ready:
        item.balances = {
            purpose: found[(item.account.pk, purpose, asset.pk)] for purpose, asset in _balance_kinds(item)
        }


def _balance_kinds(item: _Ready) -> list[tuple[str, Asset]]:
    return balance_kinds(item.instrument, item.currency)


@atomic_with_retry()
def _place_all(ready: list[_Ready]) -> dict[int, Placed]:
    locked = ledger_locks.lock_ledger_accounts(a.pk for item in ready for a in item.balances.values())
    existing = _existing_orders(ready)
    fresh = [item for item in ready if (item.account.pk, item.coid) not in existing]
    acceptance = Acceptance(
        locked=locked,
        inputs=BatchInputs([(item.account.pk, item.instrument.pk) for item in fresh], timezone.now()),
        brokers=outbox.brokers_for([item.account.pk for item in fresh]),
    )
    answers: dict[int, Placed] = {}
    twins: list[tuple[Order, _Ready]] = []  # items repeating an order of this batch: answered once it is stored
    for item in ready:
        key = (item.account.pk, item.coid)
        earlier = existing.get(key)
        if earlier is not None and earlier.pk is None:
            twins.append((earlier, item))
            continue
        if earlier is not None:
            answers[item.index] = _replay_of(earlier, item)
            continue
        with context.bind(item.context):
            order = acceptance.decide(
                actor=item.actor,
                account=item.account,
                instrument=item.instrument,
                terms=item.terms,
                coid=item.coid,
                fp=item.fp,
                balances=item.balances,
                currency=item.currency,
            )
        existing[key] = order
        answers[item.index] = Placed(order=order)
    acceptance.write()
    for earlier, item in twins:
        answers[item.index] = _replay_of(earlier, item)
    faults.point("orders.place.before_commit")
    return answers


def _existing_orders(ready: list[_Ready]) -> dict[tuple[int, str], Order]:
    """The orders already stored under the batch's (account, client_order_id) pairs: one query."""
    pairs = sorted({(item.account.pk, item.coid) for item in ready})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id FROM orders_order o"
            " JOIN unnest(%s::bigint[], %s::text[]) AS k(account_id, coid)"
            " ON o.account_id = k.account_id AND o.client_order_id = k.coid",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return {}
    return {(o.account_id, o.client_order_id): o for o in Order.objects.select_related("instrument").filter(pk__in=ids)}


def _replay_of(existing: Order, item: _Ready) -> Placed:
    if existing.fingerprint != item.fp:
        return Placed(
            error=errors.DuplicateClientOrderId(
                f"client_order_id {item.coid!r} was already used for a different order.", order_id=existing.pk
            )
        )
    replay = copy.copy(existing)  # an order of this batch keeps its own answer
    replay.replayed = True  # type: ignore[attr-defined]
    return Placed(order=replay)
