"""A limiter used from event loops in several threads at once.

The budget (slots, pacing, what was learned) is one per client, so the
limiter's state stays shared, under the lock ``Limiter._bind`` creates when
a second thread's loop shows up while the first is still running.  What
belongs to a loop stays in it: each waiter's future is resolved in its own
loop (``call_soon_threadsafe`` from another thread), and the timer is armed
in the head waiter's loop (see ``Limiter._arm``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._permit import UNPACED, Permit

if TYPE_CHECKING:
    from ._limiter import Limiter

__all__ = ["acquire_shared", "fail", "grant"]


def fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a waiter (run in its own loop)."""
    if not fut.done():
        fut.set_exception(exc)


async def acquire_shared(lim: Limiter, loop: asyncio.AbstractEventLoop, tokens: int) -> Permit:
    """``acquire`` when loops in several threads use this limiter at once."""
    old = lim._switching
    while old is not None:
        if lim._switch_seen or not old.is_running():
            lim._switching = None
            break
        await asyncio.sleep(0.001)
        old = lim._switching
    lock = lim._lock
    assert lock is not None
    with lock:
        if not lim._waiters and lim._store is None and lim._slot_free():
            if not lim._paced:
                lim._pacer.starts += 1
                lim._in_flight += 1
                return Permit(lim, tokens, UNPACED)
            now = lim._clock()
            if lim._pacer.delay(now) <= 0.0:
                return lim._start(tokens, now)
        fut: asyncio.Future[Permit] = loop.create_future()
        lim._waiters.append((fut, tokens))
        if len(lim._waiters) == 1:
            lim._wake()
    try:
        return await fut
    except asyncio.CancelledError:
        lim._forget(fut)
        raise


def grant(lim: Limiter, fut: asyncio.Future[Permit], permit: Permit) -> None:
    """Resolve a waiter in its own loop (shared mode: maybe another thread's)."""
    loop = fut.get_loop()
    if loop is asyncio._get_running_loop():
        fut.set_result(permit)
        return
    try:
        loop.call_soon_threadsafe(_deliver, lim, fut, permit)
    except RuntimeError:  # its loop is closed: nobody will take the permit
        lim._give_back(permit)


def _deliver(lim: Limiter, fut: asyncio.Future[Permit], permit: Permit) -> None:
    lock = lim._lock
    assert lock is not None
    with lock:
        if fut.done():  # cancelled while the permit was on its way
            lim._give_back(permit)
        else:
            fut.set_result(permit)
