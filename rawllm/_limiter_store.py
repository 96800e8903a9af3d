"""The limiter's side of a shared ``RateStore`` (``RedisStore``): one budget for many processes.

The head of the limiter's queue asks the store for its start (one request to
the store at a time, so the FIFO order holds across the await); the answer is
applied under the limiter's lock.  A store that raises fails closed (that
waiter gets the error); one that answers None fails open (local pacing only,
for ``STORE_RETRY`` seconds).  Refunds, usage corrections and shared pauses go
to the store in background tasks the limiter keeps until they finish, so a
slow store never holds a caller.

Functions here take the ``Limiter`` whose state they read and change, as
``_loopshare`` does for loops in several threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ._loopshare import fail, grant

if TYPE_CHECKING:
    from ._limiter import Limiter
    from ._permit import Permit

__all__ = ["STORE_RETRY", "reserve", "spawn"]

STORE_RETRY = 5.0
"""Seconds before a store that failed open is asked again."""

logger = logging.getLogger("rawllm")
_NOLOCK = contextlib.nullcontext()


async def reserve(lim: Limiter, fut: asyncio.Future[Permit], cost: int) -> None:
    """Ask the shared store for the head waiter's start, then apply the answer."""
    store = lim._store
    assert store is not None
    pacer = lim._pacer
    now = lim._clock()
    rate = pacer.request_rate(now)
    trate = pacer.token_rate(now)
    try:
        answer: Any = await store.reserve(
            cost, None if rate is None else rate * 60.0, None if trate is None else trate * 60.0
        )
    except Exception as exc:  # fail closed: this waiter gets the error
        answer = exc
    lock = lim._lock
    with lock if lock is not None else _NOLOCK:
        _reserved(lim, fut, cost, answer)


def _reserved(lim: Limiter, fut: asyncio.Future[Permit], cost: int, answer: Any) -> None:
    store = lim._store
    assert store is not None
    lim._reserving = False
    if isinstance(answer, Exception):
        if lim._waiters and lim._waiters[0][0] is fut:
            lim._waiters.popleft()
        loop = fut.get_loop()
        if loop is asyncio._get_running_loop():
            if not fut.done():
                fut.set_exception(answer)
        else:
            loop.call_soon_threadsafe(fail, fut, answer)
        lim._wake()
        return
    if answer is None:  # fail open: local pacing only, for a while
        lim._store_down_until = lim._clock() + STORE_RETRY
        lim._wake()
        return
    wait, receipt = answer
    if wait > 0.0:
        lim._arm(lim._clock(), wait)
        return
    if fut.done() or not lim._waiters or lim._waiters[0][0] is not fut:
        if receipt is not None:  # its waiter left meanwhile: give the start back
            spawn(lim, store.refund(receipt))
        lim._wake()
        return
    lim._waiters.popleft()
    grant(lim, fut, lim._start(cost, lim._clock(), pace=False, shared=receipt))
    lim._wake()


def spawn(lim: Limiter, coro: Any) -> None:
    """Run a store call in the background; the limiter keeps the task until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    lim._tasks.add(task)
    task.add_done_callback(lambda t: _task_done(lim, t))


def _task_done(lim: Limiter, task: asyncio.Task[Any]) -> None:
    lim._tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("rawllm: rate-limit store call failed: %r", task.exception())
