"""Run a server in a background thread with its own event loop (``MockServer.start_in_thread``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LoopThread"]


class LoopThread:
    """A daemon thread running an event loop: ``start()`` on entry, ``close()`` on the way out.

    Args:
        start: makes the coroutine that starts serving (run first, in the thread's loop).
        close: makes the coroutine that stops serving.
        name: the thread's name.
    """

    def __init__(
        self,
        start: Callable[[], Coroutine[Any, Any, object]],
        close: Callable[[], Coroutine[Any, Any, None]],
        name: str,
    ) -> None:
        self._start = start
        self._close = close
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, timeout: float) -> None:
        """Start the thread; return once ``start()`` finished (re-raising what it raised)."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name=self._name, daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("MockServer thread did not start in time")
        if failure:
            thread.join()
            raise failure[0]
        self._thread, self._loop = thread, loop

    def stop(self, timeout: float) -> None:
        """Run ``close()`` in the thread's loop, stop the loop and join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._thread = self._loop = None
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
