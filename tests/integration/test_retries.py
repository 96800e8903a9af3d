"""The attempt loop against MockServer: attempts the server saw, waits honoured, visibility.

Each test gives its requests their own fault script (``x-mock-faults`` with an
``x-mock-key``), counts the attempts the server recorded for that key, and
measures waits as the gap between recorded arrival times (generous bounds:
only a lower bound is tight, as the server's header asks for it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _pool import settle

import rawllm
from rawllm import RetryEvent
from rawllm.testing import MockServer, RecordedRequest, reply_text

API_KEY = "sk-test-retries-0123456789abc"
MSGS = [{"role": "user", "content": "try again"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}
FAST = "retry-after-ms=1"  # a server-given wait of 1 ms keeps the tests quick


def client_for(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


def seen(server: MockServer, key: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.headers.get("x-mock-key") == key]


def gaps(server: MockServer, key: str) -> list[float]:
    times = [r.time for r in seen(server, key)]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


# -- how many attempts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "attempts"),
    [
        ("429,429,ok", 3),
        ("500,503,ok", 3),
        ("reset", 2),
        ("408:retry-after-ms=1,409:retry-after-ms=1", 3),
        ("502:retry-after-ms=1,504:retry-after-ms=1", 3),
        ("400:x-should-retry=true:retry-after-ms=1", 2),
    ],
)
async def test_retried_until_success(mock_server: MockServer, script: str, attempts: int) -> None:
    async with client_for(mock_server, max_retries=2) as client:
        resp = await client.chat.completions.create(**BODY, extra_headers=faults(script, "k"))
    assert resp.choices[0].message.content == reply_text(BODY)
    assert resp._retries == attempts - 1
    assert len(seen(mock_server, "k")) == attempts
    assert mock_server.pending_faults("k") == ""


@pytest.mark.parametrize(
    ("script", "cls"),
    [
        ("400", rawllm.BadRequestError),
        ("401", rawllm.AuthenticationError),
        ("403", rawllm.PermissionDeniedError),
        ("404", rawllm.NotFoundError),
        ("422", rawllm.UnprocessableEntityError),
        ("503:x-should-retry=false", rawllm.InternalServerError),
        ("429:retry-after-ms=1:x-should-retry=false", rawllm.RateLimitError),
    ],
)
async def test_not_retried(mock_server: MockServer, script: str, cls: type[Exception]) -> None:
    async with client_for(mock_server, max_retries=3) as client:
        with pytest.raises(rawllm.APIStatusError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults(script, "n"))
    assert type(info.value) is cls
    assert info.value.retries == 0
    assert len(seen(mock_server, "n")) == 1


async def test_retries_exhausted_raise_the_last_error(mock_server: MockServer) -> None:
    script = f"500:{FAST},503:{FAST},529:{FAST},ok"
    async with client_for(mock_server, max_retries=2) as client:
        with pytest.raises(rawllm.OverloadedError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults(script, "x"))
    assert info.value.status_code == 529 and info.value.retries == 2
    assert len(seen(mock_server, "x")) == 3


async def test_max_retries_per_client_copy_and_call(mock_server: MockServer) -> None:
    script = ",".join([f"500:{FAST}"] * 3)
    async with client_for(mock_server, max_retries=0) as client:
        with pytest.raises(rawllm.InternalServerError) as info:
            await client.chat.completions.create(**BODY, extra_headers=faults(script, "c0"))
        assert info.value.retries == 0 and len(seen(mock_server, "c0")) == 1

        copy = client.with_options(max_retries=1)
        with pytest.raises(rawllm.InternalServerError) as info:
            await copy.chat.completions.create(**BODY, extra_headers=faults(script, "c1"))
        assert info.value.retries == 1 and len(seen(mock_server, "c1")) == 2

        resp = await client.chat.completions.create(
            **BODY, extra_headers=faults(script, "c3"), max_retries=3
        )
        assert resp._retries == 3 and len(seen(mock_server, "c3")) == 4

        # Per call on the other endpoints too, and the client default is untouched.
        emb = await client.embeddings.create(
            model="e", input="x", extra_headers=faults(f"500:{FAST}", "e"), max_retries=1
        )
        models = await client.models.list(extra_headers=faults(f"500:{FAST}", "m"), max_retries=1)
        assert emb._retries == 1 and models._retries == 1
        with pytest.raises(rawllm.InternalServerError):
            await client.chat.completions.create(**BODY, extra_headers=faults(script, "again"))
        assert len(seen(mock_server, "again")) == 1


async def test_same_body_bytes_on_every_attempt(mock_server: MockServer) -> None:
    script = f"500:{FAST},reset,503:{FAST}"
    body = {**BODY, "temperature": 0.3, "metadata": {"a": "é", "b": [1, 2.5, None]}}
    async with client_for(mock_server, max_retries=3) as client:

        async def streamed() -> None:
            stream = await client.chat.completions.create(
                **body, stream=True, extra_headers=faults(script, "bs")
            )
            await stream.until_done()

        await asyncio.gather(
            client.chat.completions.create(**body, extra_headers=faults(script, "b")), streamed()
        )
    for key, n in (("b", 4), ("bs", 4)):
        bodies = [r.body for r in seen(mock_server, key)]
        assert len(bodies) == n and len(set(bodies)) == 1 and bodies[0]
    assert seen(mock_server, "b")[0].json == body


# -- waits -------------------------------------------------------------------------


async def test_server_waits_are_honoured(mock_server: MockServer) -> None:
    """retry-after-ms, Retry-After seconds and an HTTP date, run side by side.

    One client per case: after a 429 the client's limiter also slows that
    client down for a while (API.md, rate limits), which is not under test here.
    """
    cases = {
        "ms": ("429:retry-after-ms=300", 0.3),
        "seconds": ("429:retry-after=1", 1.0),
        # An HTTP date has whole-second resolution: 2 s ahead is 1-2 s ahead.
        "date": ("429:retry-after-date=2", 0.95),
        "ms-wins": ("429:retry-after-ms=200:retry-after=30", 0.2),
        "503-seconds": ("503:retry-after=0.5", 0.5),
    }

    async def one(key: str, script: str) -> int:
        async with client_for(mock_server, max_retries=1) as client:
            resp = await client.chat.completions.create(**BODY, extra_headers=faults(script, key))
            return int(resp._retries)

    retries = await asyncio.gather(*(one(key, script) for key, (script, _) in cases.items()))
    assert retries == [1] * len(cases)
    for key, (_, low) in cases.items():
        [gap] = gaps(mock_server, key)
        assert low <= gap < low + 2.5, (key, gap)


async def test_backoff_without_server_headers(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=2) as client:
        await client.chat.completions.create(**BODY, extra_headers=faults("500,500", "exp"))
    first, second = gaps(mock_server, "exp")
    # Defaults: 0.25-0.5 s, then 0.5-1 s (equal jitter on 0.5 s doubling steps).
    assert 0.24 <= first < 1.5
    assert 0.49 <= second < 2.5


async def test_long_retry_after_is_not_waited_out(mock_server: MockServer) -> None:
    loop = asyncio.get_running_loop()
    async with client_for(mock_server, max_retries=5) as client:
        t0 = loop.time()
        with pytest.raises(rawllm.RateLimitError) as info:
            await client.chat.completions.create(
                **BODY, extra_headers=faults("429:retry-after=120,ok", "long")
            )
        elapsed = loop.time() - t0
    assert elapsed < 1.0
    assert info.value.retries == 0 and info.value.headers["retry-after"] == "120"
    assert len(seen(mock_server, "long")) == 1


# -- visibility ----------------------------------------------------------------------


async def test_on_retry_hook_and_logs(
    mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rawllm")
    events: list[RetryEvent] = []
    async_events: list[RetryEvent] = []

    async def async_hook(event: RetryEvent) -> None:
        await asyncio.sleep(0)
        async_events.append(event)

    # The 429 comes last: after a 429 the client's limiter spaces later starts out.
    script = "reset,429:retry-after-ms=20,ok"
    async with client_for(mock_server, max_retries=3, on_retry=events.append) as client:
        copy = client.with_options(on_retry=async_hook)
        await copy.models.list(extra_headers=faults(f"503:{FAST}", "h2"))
        resp = await client.chat.completions.create(**BODY, extra_headers=faults(script, "h"))
    assert resp._retries == 2
    assert [(e.attempt, e.status) for e in events] == [(1, None), (2, 429)]
    assert type(events[0].error) is rawllm.APIConnectionError
    assert isinstance(events[1].error, rawllm.RateLimitError)
    assert events[1].wait >= 0.02 and events[0].wait > 0
    assert events[1].method == "POST" and events[1].url.endswith("/v1/chat/completions")
    assert [(e.attempt, e.status, e.method) for e in async_events] == [(1, 503, "GET")]

    records = [r for r in caplog.records if r.name == "rawllm"]
    # one isolated 429 delays only its own call: no client-wide slowdown
    assert not [r for r in records if "slowing down" in r.getMessage()]
    messages = [r.getMessage() for r in records if "retrying" in r.getMessage()]
    assert len(messages) == 3
    assert "HTTP 503" in messages[0] and "GET" in messages[0]
    assert "APIConnectionError" in messages[1] and "attempt 1 of 4" in messages[1]
    assert "HTTP 429" in messages[2] and "attempt 2 of 4" in messages[2]
    assert all(API_KEY not in m for m in messages)


# -- streams ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script", ["reset-after-headers", "reset", f"429:{FAST}", "cut@0", "html502"]
)
async def test_stream_retried_before_its_first_body_byte(
    mock_server: MockServer, script: str
) -> None:
    async with client_for(mock_server, max_retries=2) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults(script, "s")
        )
        assert stream.retries == 1
        final = await stream.get_final()
        assert await settle(client) == 0
    assert final.choices[0].message.content == reply_text(BODY)
    assert len(seen(mock_server, "s")) == 2


async def test_anthropic_stream_retried_before_its_first_body_byte(
    mock_server: MockServer,
) -> None:
    client = rawllm.Anthropic(api_key=API_KEY, base_url=mock_server.anthropic_base_url)
    async with client:
        stream = await client.messages.create(
            model="c",
            max_tokens=10,
            messages=MSGS,
            stream=True,
            extra_headers=faults("reset-after-headers,529:retry-after-ms=1", "as"),
        )
        final = await stream.get_final()
    assert stream.retries == 2 and final.content[0].text
    assert len(seen(mock_server, "as")) == 3


@pytest.mark.parametrize("n", [1, 4])
async def test_stream_never_retried_after_its_first_body_byte(
    mock_server: MockServer, n: int
) -> None:
    async with client_for(mock_server, max_retries=3) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults(f"cut@{n},ok", "cut")
        )
        with pytest.raises(rawllm.APIConnectionError) as info:
            await stream.until_done()
        assert info.value.retries == 0
        assert await settle(client) == 0
    assert len(seen(mock_server, "cut")) == 1
    assert mock_server.pending_faults("cut") == "ok"


async def test_stream_retries_exhausted(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=1) as client:
        with pytest.raises(rawllm.APIConnectionError) as info:
            await client.chat.completions.create(
                **BODY, stream=True, extra_headers=faults("reset-after-headers,reset", "rx")
            )
        assert await settle(client) == 0
    assert info.value.retries == 1
    assert len(seen(mock_server, "rx")) == 2
