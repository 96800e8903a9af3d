"""One client, any event loop, any thread, any process.

A client built once is used under several loops: ``asyncio.run`` twice,
threads with their own loops, a forked child, pytest's per-test loops with a
module-level client.  Each loop gets its own connection pool; a finished
loop's pool is closed inside that loop (or dropped if the loop was closed by
hand) and nothing warns.  Calls, streams and a rate-limited client are
exercised in each case.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import rawllm
from rawllm.testing import MockServer

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    """A mock server in its own thread, so it outlives every test's loop."""
    srv = MockServer(tokens=5).start_in_thread()
    try:
        yield srv
    finally:
        srv.stop_thread()


def _client(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(
        api_key="sk-test-loops-0000", base_url=server.url + "/v1", max_retries=0, **kw
    )


async def _use(client: rawllm.OpenAI) -> tuple[str, str]:
    """One call and one stream, both read to the end."""
    resp = await client.chat.completions.create(model="m", messages=MSG)
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
    async with stream:
        final = await stream.get_final()
    return resp.choices[0].message.content or "", final.choices[0].message.content or ""


def _sessions(client: rawllm.OpenAI) -> int:
    sessions = client._shared.transport._sessions
    assert sessions is not None
    return len(sessions)


@pytest.fixture
def no_unclosed(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Collect every "Unclosed ..." report (loop exception handler, unraisable hook)."""
    seen: list[str] = []
    old_hook = sys.unraisablehook

    def hook(unraisable: Any) -> None:  # pragma: no cover - only on failure
        seen.append(f"{unraisable.exc_value!r} in {unraisable.object!r}")

    sys.unraisablehook = hook
    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield seen
            gc.collect()
    finally:
        sys.unraisablehook = old_hook
    seen.extend(r.getMessage() for r in caplog.records if "nclosed" in r.getMessage())
    seen.extend(r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage())
    assert seen == []


@pytest.mark.parametrize("limited", [False, True], ids=["plain", "rate-limited"])
def test_two_asyncio_runs(server: MockServer, no_unclosed: list[str], limited: bool) -> None:
    rate = rawllm.RateLimit(requests_per_minute=60_000, max_concurrency=2) if limited else None
    client = _client(server, rate_limit=rate)
    first = asyncio.run(_use(client))
    second = asyncio.run(_use(client))  # a new loop: a new pool, no "Event loop is closed"
    third = asyncio.run(_use(client))
    assert first == second == third and first[0] and first[1]
    # Each finished loop closed its own session on the way out.
    assert _sessions(client) == 0
    asyncio.run(client.close())
    gc.collect()


def test_loop_closed_by_hand_without_shutdown(server: MockServer, no_unclosed: list[str]) -> None:
    client = _client(server)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(_use(client))[0]
    finally:
        loop.close()  # no shutdown_asyncgens(): the pool is left behind in a dead loop
    assert asyncio.run(_use(client))[0]  # the dead loop's pool is dropped, a new one made
    asyncio.run(client.close())
    gc.collect()


def test_threads_each_with_their_own_loop(server: MockServer, no_unclosed: list[str]) -> None:
    client = _client(server)
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(asyncio.run(_use(client)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == 9 and all(a and b for a, b in results)
    asyncio.run(client.close())


def test_threads_one_after_another_with_a_rate_limit(
    server: MockServer, no_unclosed: list[str]
) -> None:
    """A rate-limited client handed from thread to thread (one loop at a time)."""
    client = _client(
        server, rate_limit=rawllm.RateLimit(requests_per_minute=60_000, max_concurrency=2)
    )
    results: list[tuple[str, str]] = []
    for _ in range(3):
        t = threading.Thread(target=lambda: results.append(asyncio.run(_use(client))))
        t.start()
        t.join(30)
    assert len(results) == 3 and all(a and b for a, b in results)
    asyncio.run(client.close())


def test_concurrent_loops_share_one_client(server: MockServer, no_unclosed: list[str]) -> None:
    """Two live loops at once: each has its own pool; close() closes both."""
    client = _client(server)
    other = asyncio.new_event_loop()
    ready = threading.Event()
    thread = threading.Thread(target=lambda: (ready.set(), other.run_forever()))
    thread.start()
    ready.wait()
    try:

        async def main() -> None:
            assert (await _use(client))[0]
            fut = asyncio.run_coroutine_threadsafe(_use(client), other)
            assert (await asyncio.wrap_future(fut))[0]
            assert _sessions(client) == 2
            await client.close()
            await asyncio.sleep(0.05)  # the other loop closes its own session

        asyncio.run(main())
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.run_until_complete(other.shutdown_asyncgens())
        other.close()


def test_threads_at_once_share_one_rate_limited_client(
    server: MockServer, no_unclosed: list[str]
) -> None:
    """Three threads' loops use one rate-limited client at the same time: one shared budget.

    Slots and pacing stay client-wide; each waiter is woken in its own loop.
    Threads are joined with a deadline so that a hang fails the test.
    """
    rate = rawllm.RateLimit(requests_per_minute=30_000, max_concurrency=4)
    client = _client(server, rate_limit=rate)
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    peak = [0]

    async def many() -> list[tuple[str, str]]:
        async def one() -> tuple[str, str]:
            peak[0] = max(peak[0], client._shared.limiter.state.in_flight)
            return await _use(client)

        return list(await asyncio.gather(*(one() for _ in range(8))))

    def work() -> None:
        try:
            for _ in range(2):
                results.extend(asyncio.run(many()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30.0  # a hang fails here instead of blocking the suite
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [t.name for t in threads if t.is_alive()]
    assert hung == [], f"threads still waiting on the limiter: {hung}"
    assert errors == []
    assert len(results) == 48 and all(a and b for a, b in results)
    state = client._shared.limiter.state
    assert state.in_flight == 0 and state.waiting == 0
    assert state.started == 96  # 48 calls + 48 streams, each granted once
    assert peak[0] <= 4
    asyncio.run(client.close())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_gets_its_own_pool(server: MockServer, no_unclosed: list[str]) -> None:
    client = _client(server, rate_limit=rawllm.RateLimit(requests_per_minute=60_000))

    async def parent() -> dict[str, Any]:
        assert (await _use(client))[0]  # the parent now has pooled connections
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork"
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.close(read_fd)
                out = asyncio.run(_use(client))
                again = asyncio.run(_use(client))
                report = {"ok": bool(out[0] and out[1] and again == out)}
                code = 0
            except BaseException as exc:
                report = {"error": repr(exc)}
            os.write(write_fd, json.dumps(report).encode())
            os._exit(code)
        os.close(write_fd)
        _, status = await asyncio.get_running_loop().run_in_executor(None, os.waitpid, pid, 0)
        with os.fdopen(read_fd, "rb") as f:
            report: dict[str, Any] = json.loads(f.read() or b"{}")
        report["status"] = status
        # The parent's pool is untouched by the child and still works.
        report["parent_after"] = (await _use(client))[0]
        return report

    report = asyncio.run(parent())
    assert report.get("ok") is True, report
    assert report["status"] == 0 and report["parent_after"]
    asyncio.run(client.close())


# -- pytest's function-scoped loops with a module-level client ----------------

_MODULE_CLIENT: dict[str, rawllm.OpenAI] = {}


def _module_client(server: MockServer) -> rawllm.OpenAI:
    if "c" not in _MODULE_CLIENT:
        _MODULE_CLIENT["c"] = _client(
            server, rate_limit=rawllm.RateLimit(requests_per_minute=60_000)
        )
    return _MODULE_CLIENT["c"]


@pytest.mark.parametrize("round_", [1, 2, 3])
async def test_module_level_client_in_per_test_loops(server: MockServer, round_: int) -> None:
    client = _module_client(server)
    text, streamed = await _use(client)
    assert text and streamed
    # Only this test's loop has a live pool: earlier tests' loops closed theirs.
    assert _sessions(client) == 1
