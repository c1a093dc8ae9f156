"""Group commit for single orders: concurrent placements in one process share one transaction.

A web process serving requests on several threads places each order through ``place``. The
first caller that finds no batch running becomes the committer: it takes every order waiting at
that moment (its own included, up to ``MAX_BATCH``), places them with ``order_place_batch`` in one
transaction, hands each caller its own answer and wakes them. Callers that arrive while a batch
commits wait for the next one, so batches grow with the load by themselves: no timer, and a lone
order waits for nobody.

Each caller is answered only after the transaction holding its order has committed, with its own
result (its order, its replay, its refusal); each order keeps its own actor, correlation id and
source address. An error that fails the whole transaction (the database gone) is raised to every
caller of that batch, as it would have been to each alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apps.core import context
from apps.orders.batch import MAX_BATCH, OrderRequest, Placed, order_place_batch

if TYPE_CHECKING:
    from apps.users.models import User


@dataclass
class _Waiter:
    actor: User
    request: OrderRequest
    answer: Placed | None = None
    failure: BaseException | None = None
    done: bool = field(default=False)


class GroupCommit:
    """One per process (``committer``); thread-safe."""

    def __init__(self, limit: int = MAX_BATCH) -> None:
        self.limit = limit
        self._changed = threading.Condition()
        self._queue: list[_Waiter] = []
        self._busy = False
        self.batches = 0  # transactions committed, for tests and metrics

    def place(self, *, actor: User, request: OrderRequest) -> Placed:
        """Place one order, in whatever batch commits it first; its own answer."""
        request.actor = request.actor or actor
        request.context = request.context or context.current()
        waiter = _Waiter(actor, request)
        with self._changed:
            self._queue.append(waiter)
        while True:
            with self._changed:
                while not waiter.done and self._busy:
                    self._changed.wait()
                if waiter.done:
                    break
                self._busy = True
                batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
            try:
                self._commit(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
        if waiter.failure is not None:
            raise waiter.failure
        assert waiter.answer is not None
        return waiter.answer

    def _commit(self, batch: list[_Waiter]) -> None:
        try:
            answers = order_place_batch(actor=batch[0].actor, requests=[w.request for w in batch])
        except BaseException as exc:  # every caller of this batch learns what ended it
            for waiter in batch:
                waiter.failure, waiter.done = exc, True
            return
        self.batches += 1
        for waiter, answer in zip(batch, answers, strict=True):
            waiter.answer, waiter.done = answer, True


committer = GroupCommit()
