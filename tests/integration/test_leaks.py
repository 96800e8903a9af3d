"""Nothing leaks: cancelled calls and abandoned streams leave no connection checked out.

pytest runs with ``-W error``, so a ResourceWarning (or any warning) raised in
a ``__del__`` fails the test through pytest's unraisable-exception hook.
aiohttp also reports "Unclosed ..." objects through the event loop's
exception handler, which only logs; the ``loop_errors`` fixture below turns
every such report into a test failure.
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _pool import checked_out, settle

import rawllm
from rawllm.testing import MockServer, reply_text

API_KEY = "sk-test-leaks-0123456789abc"
MSGS = [{"role": "user", "content": "leak nothing please"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail the test on anything reported to the loop's exception handler."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    yield reports
    gc.collect()
    for _ in range(3):  # let callbacks scheduled by finalizers run
        await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    assert [r.get("message") for r in reports] == []


def client_for(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


@pytest.fixture
async def slow_server() -> Any:
    """Streams of 60 deltas at 60/s: about one second each, so closing early is mid-body."""
    async with MockServer(tokens=60, tokens_per_second=60) as server:
        yield server


async def test_1000_requests_with_cancellations_leak_nothing(mock_server: MockServer) -> None:
    rng = random.Random(1234)
    limit = rawllm.RateLimit(max_concurrency=64)
    outcomes = {"ok": 0, "cancelled": 0}

    async def call(i: int) -> None:
        kind = i % 6
        headers: dict[str, str] = {}
        if kind == 1:
            headers = {"x-mock-latency": "0.05"}  # cancelled while the server waits
        elif kind == 4:
            headers = {"x-mock-faults": "500:retry-after-ms=50", "x-mock-key": f"r{i}"}
        if kind in (2, 5):
            stream = await client.chat.completions.create(
                **BODY, stream=True, extra_headers=headers
            )
            async with stream:
                async for _ in stream:
                    await asyncio.sleep(0)
        else:
            await client.chat.completions.create(**BODY, extra_headers=headers, max_retries=1)

    async def run(i: int) -> None:
        task = asyncio.ensure_future(call(i))
        kind = i % 6
        if kind in (1, 3, 4, 5):  # cancel mid-flight: latency, response, backoff, stream
            await asyncio.sleep(rng.choice([0, 0.0005, 0.002, 0.01, 0.03]))
            task.cancel()
        try:
            await task
            outcomes["ok"] += 1
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1

    async with client_for(mock_server, rate_limit=limit) as client:
        for wave in range(0, 1000, 100):
            # A leaked concurrency slot would hang the next wave: fail instead of hanging.
            await asyncio.wait_for(asyncio.gather(*(run(i) for i in range(wave, wave + 100))), 30)
            assert await settle(client) == 0, f"connections checked out after wave {wave}"
        state = client.limiter.state
        assert (state.in_flight, state.waiting) == (0, 0)
        # The pool still works, and reuses what it kept.
        resp = await client.chat.completions.create(**BODY)
        assert resp.choices[0].message.content == reply_text(BODY)
        assert checked_out(client) == 0
    assert outcomes["ok"] + outcomes["cancelled"] == 1000
    assert outcomes["cancelled"] >= 200  # the test really cancelled calls in flight
    assert outcomes["ok"] >= 333


async def _open(client: rawllm.OpenAI) -> Any:
    return await client.chat.completions.create(**BODY, stream=True)


async def test_break_inside_async_with(slow_server: MockServer) -> None:
    async with client_for(slow_server) as client:
        t0 = asyncio.get_running_loop().time()
        async with await _open(client) as stream:
            async for _ in stream:
                break
            assert checked_out(client) == 1
        assert checked_out(client) == 0
        assert asyncio.get_running_loop().time() - t0 < 0.5  # not read to the end (~1 s)
        with pytest.raises(rawllm.APIConnectionError):
            await anext(aiter(stream))


async def test_break_out_of_an_unnamed_stream(slow_server: MockServer) -> None:
    async with client_for(slow_server) as client:
        async for _ in await _open(client):
            break
        # Nothing refers to the stream any more: it is closed at once, no gc.collect().
        assert checked_out(client) == 0


async def test_leaving_async_with_before_reading(slow_server: MockServer) -> None:
    async with client_for(slow_server) as client:
        async with await _open(client) as stream:
            assert checked_out(client) == 1
        assert checked_out(client) == 0
        assert not stream.completed


async def test_exception_in_the_consumer(slow_server: MockServer) -> None:
    async with client_for(slow_server) as client:
        with pytest.raises(ZeroDivisionError):
            async with await _open(client) as stream:
                async for _ in stream:
                    _ = 1 / 0
        assert checked_out(client) == 0


async def test_task_cancelled_mid_stream(slow_server: MockServer) -> None:
    limit = rawllm.RateLimit(max_concurrency=1)
    async with client_for(slow_server, rate_limit=limit) as client:
        got = asyncio.Event()

        async def consume() -> None:
            stream = await _open(client)  # no async with: cancellation alone must release it
            async for _ in stream:
                got.set()

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(got.wait(), 5)
        assert checked_out(client) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await settle(client) == 0
        assert client.limiter.state.in_flight == 0  # the concurrency slot came back too
        resp = await asyncio.wait_for(client.models.list(), 2)
        assert resp.data


async def test_task_cancelled_while_opening_a_stream(slow_server: MockServer) -> None:
    async with client_for(slow_server) as client:
        for delay in (0, 0.001, 0.005, 0.02):
            task = asyncio.ensure_future(
                client.chat.completions.create(
                    **BODY, stream=True, extra_headers={"x-mock-latency": "0.01"}
                )
            )
            await asyncio.sleep(delay)
            task.cancel()
            try:
                stream = await task
            except asyncio.CancelledError:
                pass
            else:
                await stream.close()
            assert await settle(client) == 0


async def test_abandoned_stream_is_closed_by_gc(slow_server: MockServer) -> None:
    limit = rawllm.RateLimit(max_concurrency=2)
    async with client_for(slow_server, rate_limit=limit) as client:
        stream = await _open(client)
        await anext(aiter(stream))
        # A reference cycle keeps it alive past the last `del`: only the collector frees it.
        cycle: list[Any] = [stream]
        cycle.append(cycle)
        del stream
        assert checked_out(client) == 1
        del cycle
        assert await settle(client, collect=True) == 0
        assert client.limiter.state.in_flight == 0


async def test_stream_read_to_the_end_then_dropped(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await _open(client)
        async for _ in stream:
            pass
        assert checked_out(client) == 0
        del stream
        gc.collect()
        assert checked_out(client) == 0


async def test_closing_the_client_with_a_stream_open(slow_server: MockServer) -> None:
    client = client_for(slow_server)
    stream = await _open(client)
    await anext(aiter(stream))
    await client.close()
    with pytest.raises(rawllm.APIConnectionError):
        async for _ in stream:
            pass
    await stream.close()
