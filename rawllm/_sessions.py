"""One aiohttp session per (event loop, process): a client works under any loop.

An aiohttp session, its connector and every pooled connection are bound to
the event loop that created them.  A client is often built once and used
under several loops: ``asyncio.run`` called twice, pytest's per-test loops
with a module-level client, a second thread with its own loop, a forked
child.  ``LoopSessions`` gives each loop its own session, lazily, and makes
sure none of them ever warns:

* The hot path is one identity check: the last (loop, session) pair is cached
  in a single attribute (one atomic read, so threads never see a torn pair).
* When a loop shuts down cleanly (``asyncio.run``, ``asyncio.Runner``,
  pytest-asyncio: all call ``loop.shutdown_asyncgens()``), a tiny async
  generator registered with that loop closes its session *inside* the loop,
  so every connection is closed properly before the loop is.
* A loop closed without that shutdown step (``loop.close()`` by hand) is
  noticed at the next use from another loop: its session is detached and its
  connector marked closed without touching the dead loop.
* After ``os.fork()`` the child forgets the parent's sessions without closing
  them (their sockets are shared with the parent, which still uses them) and
  keeps them referenced so that no finaliser ever runs on them in the child.

What is *not* per loop: the rate limiter and its budget (it rebinds itself to
the loop in use; see ``docs/reliability.md``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sessions are made by the transport's factory
    import aiohttp

__all__ = ["LoopSessions"]

# Sessions inherited from the parent by a forked child: kept alive (never
# finalised, never closed) because their sockets belong to the parent.
_INHERITED: list[Any] = []
_ALL: weakref.WeakSet[LoopSessions] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_ALL):
        pool._forget_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Entry:
    """A loop's session and the shutdown hook that closes it."""

    __slots__ = ("hook", "inherited", "loop", "owner", "session")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession, owner: LoopSessions
    ) -> None:
        self.loop = loop
        self.session = session
        self.owner = weakref.ref(owner)
        self.inherited = False
        self.hook: AsyncGenerator[None, None] | None = None


async def _close_session(entry: _Entry) -> None:
    session = entry.session
    owner = entry.owner()
    if owner is not None and owner.bound is not None and owner.bound[1] is session:
        owner.bound = None  # the next call from this loop takes the slow path
    if entry.inherited or session.closed:
        return
    if entry.loop.is_closed():
        _drop(entry)
        return
    await session.close()
    # Let the transports finish closing, so nothing warns "Unclosed".
    await asyncio.sleep(0)


async def _shutdown_hook(entry: _Entry) -> AsyncGenerator[None, None]:
    """Parked at its ``yield`` until the loop's ``shutdown_asyncgens()`` closes it."""
    try:
        yield
    finally:
        await _close_session(entry)


def _drop(entry: _Entry) -> None:
    """Forget a session whose loop is closed, without touching that loop."""
    session = entry.session
    connector = session.connector
    session.detach()  # a session without a connector counts as closed: no warning
    if connector is not None:
        protocols = [p for conns in connector._conns.values() for p, _ in conns]
        protocols.extend(connector._acquired)
        # With the loop closed this only marks the connector closed (no IO).
        connector._close()
        for proto in protocols:
            _close_socket(proto.transport)
    _finish_hook(entry)


def _close_socket(transport: Any) -> None:
    """Close a dead loop's connection socket directly (its loop can no longer do it).

    asyncio's own ``transport.close()`` schedules a callback on the loop, which
    raises once the loop is closed; left alone, the garbage collector would
    close the socket with a ResourceWarning.  Best effort on CPython's
    selector transports (an SSL transport wraps one); other loops are left to
    their own finalisers.
    """
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    if ssl_protocol is not None:
        transport = getattr(ssl_protocol, "_transport", None)
    sock = getattr(transport, "_sock", None)
    if sock is None:
        return
    try:
        sock.close()
    finally:
        transport._sock = None


def _finish_hook(entry: _Entry) -> None:
    """Close the shutdown hook by hand, so no finaliser calls into a closed loop."""
    hook, entry.hook = entry.hook, None
    if hook is None:
        return
    closing = hook.aclose()
    try:
        closing.send(None)
    except StopIteration:
        return
    except BaseException:  # pragma: no cover - the hook never fails
        return
    closing.close()  # pragma: no cover - it awaited: the session was still open


class LoopSessions:
    """The owned sessions of one transport, one per (event loop, process)."""

    __slots__ = ("__weakref__", "bound", "_entries", "_factory", "_lock")

    def __init__(self, factory: Callable[[], aiohttp.ClientSession]) -> None:
        self._factory = factory
        self.bound: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None
        self._entries: dict[asyncio.AbstractEventLoop, _Entry] = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self) -> aiohttp.ClientSession:
        """The session of the running loop (created on first use in that loop).

        ``bound`` (the last loop and its session) is dropped whenever that
        session is closed, so the hot path needs no ``closed`` check.
        """
        loop = asyncio.get_running_loop()
        bound = self.bound
        if bound is not None and bound[0] is loop:
            return bound[1]
        return self._bind(loop)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        with self._lock:
            self._sweep()
            entry = self._entries.get(loop)
            if entry is None or entry.session.closed:
                entry = _Entry(loop, self._factory(), self)
                hook = _shutdown_hook(entry)
                # Start it: the loop's first-iteration hook registers it, so the
                # loop's shutdown_asyncgens() will close it (and the session).
                try:
                    hook.asend(None).send(None)
                except StopIteration:
                    pass
                entry.hook = hook
                self._entries[loop] = entry
            self.bound = (loop, entry.session)
            return entry.session

    def _sweep(self) -> None:
        """Drop the sessions of loops that are closed (or that closed their session)."""
        for loop, entry in list(self._entries.items()):
            if loop.is_closed():
                del self._entries[loop]
                _drop(entry)
            elif entry.session.closed:
                del self._entries[loop]
                _finish_hook(entry)

    def peek(self) -> aiohttp.ClientSession | None:
        """The running loop's session if it exists (no creation)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        entry = self._entries.get(loop)
        return None if entry is None else entry.session

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if not e.session.closed)

    async def close(self) -> None:
        """Close every session: this loop's now, other live loops' in their own loop."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self.bound = None
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - close() is awaited in a loop
            current = None
        for entry in entries:
            if entry.loop is current:
                await _close_session(entry)
                _finish_hook(entry)
            elif entry.loop.is_closed():
                _drop(entry)
            else:
                # Another thread's loop: ask it to close its own session.
                entry.loop.call_soon_threadsafe(_close_in_loop, entry)

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's sessions are not ours to use or close."""
        self._lock = threading.Lock()  # a lock held in the parent at fork would stay held
        self.bound = None
        for entry in self._entries.values():
            entry.inherited = True
            _INHERITED.append(entry)
        self._entries.clear()


def _close_in_loop(entry: _Entry) -> None:
    async def run() -> None:
        await _close_session(entry)
        _finish_hook(entry)

    entry.loop.create_task(run())
