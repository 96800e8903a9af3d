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
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ._permit import UNPACED, Permit

if TYPE_CHECKING:
    from ._limiter import Limiter

__all__ = ["acquire_shared", "bind", "fail", "grant", "track"]

_LIMITERS: weakref.WeakSet[Limiter] = weakref.WeakSet()


def track(lim: Limiter) -> None:
    """Remember a limiter, so that a forked child can reset it."""
    _LIMITERS.add(lim)


def _after_fork() -> None:
    """In a forked child the parent's loops, threads and lock holders are gone."""
    for lim in list(_LIMITERS):
        lim._lock = None
        lim._loop = None
        lim._switching = None
        lim._waker = None
        lim._waiters.clear()
        lim._reserving = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def bind(lim: Limiter, loop: asyncio.AbstractEventLoop) -> bool:
    """A call from another loop than the last one; True: the state is shared by threads.

    First use, or reuse after the previous loop stopped (one ``asyncio.run``
    after another): bind to ``loop``, drop the old loop's waiters (nobody
    can resume them).  The previous loop still running (in another
    thread): from now on every entry point takes a lock.
    """
    if lim._lock is not None:
        return True
    old = lim._loop
    if old is not None and old.is_running() and not old.is_closed():
        lim._lock = threading.RLock()
        lim._loop = None
        lim._switching = old
        # Code of the old loop's thread may be half-way through an unlocked
        # step: once that loop has run this callback, it is not.
        try:
            old.call_soon_threadsafe(lim._switch_seen.append, True)
        except RuntimeError:  # closed meanwhile
            lim._switching = None
        return True
    if lim._waker is not None:
        lim._waker.cancel()
        lim._waker = None
    lim._waiters.clear()
    lim._reserving = False
    lim._loop = loop
    return False


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
