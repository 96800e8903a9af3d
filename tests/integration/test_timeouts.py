"""Timeouts against MockServer: read, total (retries included), and the stream timeouts.

Every timeout raises ``APITimeoutError`` whose ``.timeout`` names the one
that fired.  Bounds on elapsed time are generous; they are tight only where
the point is that a deadline held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _pool import settle
from _serve import one_route
from aiohttp import web

import rawllm
from rawllm.testing import MockServer, RecordedRequest, reply_text

API_KEY = "sk-test-timeouts-0123456789"
MSGS = [{"role": "user", "content": "take your time"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}
Timeout = rawllm.Timeout


def client_for(server: MockServer | str, **kw: Any) -> rawllm.OpenAI:
    base = server if isinstance(server, str) else server.openai_base_url
    return rawllm.OpenAI(api_key=API_KEY, base_url=base, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


def seen(server: MockServer, key: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.headers.get("x-mock-key") == key]


def now() -> float:
    return asyncio.get_running_loop().time()


# -- non-streaming --------------------------------------------------------------------


async def test_read_timeout(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=0, timeout=Timeout(read=0.3)) as client:
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults("stall", "r"))
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == "read"
    assert 0.25 <= elapsed < 2.0
    assert "read" in str(info.value)


async def test_read_timeout_after_the_headers(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=0, timeout=Timeout(read=0.3)) as client:
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults("stall@0=3", "rh"))
    assert info.value.timeout == "read"


async def test_read_timeout_is_retried(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=2, timeout=Timeout(read=0.3)) as client:
        resp = await client.chat.completions.create(**BODY, extra_headers=faults("stall=3", "rr"))
    assert resp._retries == 1
    assert resp.choices[0].message.content == reply_text(BODY)
    assert len(seen(mock_server, "rr")) == 2


async def test_total_deadline_whatever_max_retries(mock_server: MockServer) -> None:
    """Timeout(total=2) against a stalling server: about 2 s, not (retries + 1) x read."""

    async def one(max_retries: int, stream: bool) -> tuple[float, rawllm.APITimeoutError]:
        client = client_for(mock_server, max_retries=max_retries, timeout=Timeout(read=10, total=2))
        key = f"t{max_retries}{stream}"
        async with client:
            t0 = now()
            with pytest.raises(rawllm.APITimeoutError) as info:
                await client.chat.completions.create(
                    **{**BODY, "stream": stream},
                    extra_headers=faults(",".join(["stall"] * 6), key),
                )
            elapsed = now() - t0
            assert await settle(client) == 0
        return elapsed, info.value

    cases = [(0, False), (5, False), (5, True)]
    results = await asyncio.gather(*(one(n, stream) for n, stream in cases))
    for (elapsed, err), (max_retries, stream) in zip(results, cases, strict=True):
        assert 1.5 <= elapsed <= 4.0, (max_retries, stream, elapsed)
        assert err.timeout == "total"
        assert len(seen(mock_server, f"t{max_retries}{stream}")) == 1


async def test_total_deadline_per_call_as_a_number(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=5, timeout=Timeout(read=10)) as client:
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.embeddings.create(
                model="e", input="x", extra_headers=faults("stall", "n"), timeout=0.5
            )
        elapsed = now() - t0
    assert info.value.timeout == "total" and 0.4 <= elapsed < 2.0


async def test_no_backoff_sleep_past_the_deadline(mock_server: MockServer) -> None:
    """A retry whose server-asked wait would cross the deadline is not taken."""
    script = "503:retry-after=0.5,503:retry-after=5,ok"
    async with client_for(mock_server, max_retries=5, timeout=Timeout(total=2)) as client:
        t0 = now()
        with pytest.raises(rawllm.InternalServerError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults(script, "d"))
        elapsed = now() - t0
    assert info.value.retries == 1
    assert len(seen(mock_server, "d")) == 2
    assert 0.5 <= elapsed < 1.5  # gave up at the second 503, did not sleep 5 s


async def test_last_attempt_gets_what_is_left(mock_server: MockServer) -> None:
    """The attempt after a retry wait only has the rest of the deadline."""
    script = "503:retry-after=0.5,stall"
    async with client_for(mock_server, max_retries=3, timeout=Timeout(total=1.0, read=10)) as c:
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            await c.chat.completions.create(**BODY, extra_headers=faults(script, "l"))
        elapsed = now() - t0
    assert info.value.timeout == "total" and info.value.retries == 1
    assert 0.9 <= elapsed < 2.5
    assert len(seen(mock_server, "l")) == 2


# -- streams ------------------------------------------------------------------------


async def test_stream_first_event_timeout(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=3, timeout=Timeout(first_event=0.3)) as client:
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            stream = await client.chat.completions.create(
                **BODY, stream=True, extra_headers=faults("stall@0=3", "fe")
            )
            await stream.until_done()
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == "first_event"
    assert 0.25 <= elapsed < 2.0
    assert len(seen(mock_server, "fe")) == 1  # measured from the start: no doomed retries


async def test_stream_event_idle_timeout(mock_server: MockServer) -> None:
    async with client_for(mock_server, timeout=Timeout(event_idle=0.3)) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults("stall@4=3", "ei")
        )
        got = []
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            async for chunk in stream:
                got.append(chunk)
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == "event_idle"
    assert len(got) == 4 and elapsed < 2.0
    assert len(seen(mock_server, "ei")) == 1


async def test_stream_read_timeout(mock_server: MockServer) -> None:
    async with client_for(mock_server, timeout=Timeout(read=0.3)) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults("stall@4=3", "sr")
        )
        with pytest.raises(rawllm.APITimeoutError) as info:
            await stream.until_done()
        assert await settle(client) == 0
    assert info.value.timeout == "read"


async def test_stream_total_deadline_covers_the_body(mock_server: MockServer) -> None:
    async with client_for(mock_server, timeout=Timeout(total=0.6, read=10)) as client:
        t0 = now()
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults("stall@4=3", "st")
        )
        with pytest.raises(rawllm.APITimeoutError) as info:
            await stream.until_done()
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == "total"
    assert 0.5 <= elapsed < 2.0


async def test_slow_but_steady_stream_is_not_an_idle_timeout() -> None:
    async with MockServer(tokens=8, tokens_per_second=20) as server:
        timeout = Timeout(first_event=1.0, event_idle=0.3)
        async with client_for(server, timeout=timeout) as client:
            stream = await client.chat.completions.create(**BODY, stream=True)
            final = await stream.get_final()
    assert final.choices[0].message.content == reply_text(BODY, tokens=8)


# -- keep-alives do not count as data events ---------------------------------------------
# MockServer sends at most one keep-alive per data event, so a gap *filled* with
# keep-alives needs a small server of its own: comments every 40 ms, data only
# after 1 s (with `x-data-first: 1`, one data event first).

CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
)


@pytest.fixture
async def keepalive_server() -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        data_first = request.headers.get("x-data-first") == "1"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if data_first:
            await resp.write(CHUNK)
        for _ in range(25):  # 1 s of keep-alives and nothing else
            await resp.write(b": keep-alive\n\n")
            await asyncio.sleep(0.04)
        await resp.write(CHUNK + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async with one_route(handler) as base_url:
        yield base_url


@pytest.mark.parametrize(
    ("timeout", "data_first", "fired"),
    [
        (Timeout(first_event=0.4), "0", "first_event"),
        (Timeout(event_idle=0.4), "1", "event_idle"),
    ],
)
async def test_keepalives_do_not_reset_stream_timers(
    keepalive_server: str, timeout: rawllm.Timeout, data_first: str, fired: str
) -> None:
    async with client_for(keepalive_server, max_retries=0, timeout=timeout) as client:
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            stream = await client.chat.completions.create(
                **BODY, stream=True, extra_headers={"x-data-first": data_first}
            )
            await stream.until_done()
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == fired
    assert 0.35 <= elapsed < 0.95  # before the data that ends the keep-alives


async def test_keepalive_server_stream_completes_without_stream_timers(
    keepalive_server: str,
) -> None:
    """The control case: the same server, no stream timers, reads to [DONE]."""
    async with client_for(keepalive_server, timeout=Timeout(read=1.0)) as client:
        stream = await client.chat.completions.create(**BODY, stream=True)
        final = await stream.get_final()
    assert final.choices[0].message.content == "hi"


# -- the read timer: moved by every chunk, fired only by a gap --------------------


@pytest.fixture
async def trickle_server() -> AsyncIterator[str]:
    """A chat answer sent in 12 pieces 0.1 s apart (1.2 s in all), then, with
    ``x-stall: 1``, a silence of 3 s before the last byte."""
    body = (
        b'{"id":"c","object":"chat.completion","created":0,"model":"m","choices":'
        b'[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"slow"}}]}'
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        step = len(body) // 12 + 1
        for i in range(0, len(body) - 1, step):
            await resp.write(body[i : min(i + step, len(body) - 1)])
            await asyncio.sleep(0.1)
        if request.headers.get("x-stall"):
            await asyncio.sleep(3.0)
        await resp.write(body[-1:])
        await resp.write_eof()
        return resp

    async with one_route(handler) as base_url:
        yield base_url


async def test_read_timeout_is_a_gap_between_chunks_not_the_whole_body(
    trickle_server: str,
) -> None:
    # 1.2 s of body with no gap over 0.1 s: a read timeout of 0.3 s never fires
    async with client_for(trickle_server, max_retries=0, timeout=Timeout(read=0.3)) as client:
        t0 = now()
        resp = await client.chat.completions.create(**BODY)
        assert resp.choices[0].message.content == "slow"
        assert now() - t0 >= 1.0
        # the same body with a 3 s silence before its last byte: fired by the gap
        t0 = now()
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.chat.completions.create(**BODY, extra_headers={"x-stall": "1"})
        elapsed = now() - t0
        assert await settle(client) == 0
    assert info.value.timeout == "read"
    assert 1.3 <= elapsed < 2.5  # 1.1 s of pieces, then the 0.3 s gap (not 3 s)


async def test_connections_use_the_lazy_read_timer() -> None:
    """aiohttp re-creates its read timer on every chunk; rawllm's protocol moves a
    deadline instead.  If an aiohttp upgrade stops taking our protocol, this fails."""
    from rawllm._transport import LazyReadTimer

    async with rawllm.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:9/v1") as client:
        session = client._shared.transport.session
        connector = session.connector
        assert connector is not None
        protocol = connector._factory()  # type: ignore[attr-defined]
        assert isinstance(protocol, LazyReadTimer)
