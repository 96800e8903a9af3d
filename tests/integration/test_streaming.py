"""Chat streams against MockServer: terminator rule, in-stream errors, keep-alives, final()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _pool import checked_out, settle

import rawllm
from rawllm.testing import MockServer, plan_reply, reply_text

API_KEY = "sk-test-streaming-0123456789"
MSGS = [{"role": "user", "content": "stream me some words"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}


def client_for(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


def calls(choice: Any) -> list[Any]:
    return list(choice.message.tool_calls or [])


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("n", [1, 5, 999])
async def test_truncated_stream_raises(mock_server: MockServer, n: int) -> None:
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults(f"cut@{n}", "cut")
        )
        got: list[Any] = []
        with pytest.raises(rawllm.APIConnectionError) as info:
            async for chunk in stream:
                got.append(chunk)
        assert not isinstance(info.value, rawllm.APITimeoutError)
        assert not stream.completed
        with pytest.raises(rawllm.APIConnectionError):
            stream.final()
        assert await settle(client) == 0
    n_events = len(plan_reply(BODY).pieces) + 2  # role chunk + deltas + finish chunk
    assert len(got) == min(n, n_events)
    assert len(mock_server.requests) == 1  # never retried once the body began


async def test_cut_before_the_first_body_byte_is_retried(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults("cut@0", "cut0")
        )
        assert stream.retries == 1
        final = await stream.get_final()
    assert final.choices[0].message.content == reply_text(BODY)
    assert len(mock_server.requests) == 2


@pytest.mark.parametrize(
    ("etype", "cls", "status"),
    [
        (None, rawllm.InternalServerError, 500),
        ("rate_limit_exceeded", rawllm.RateLimitError, 429),
        ("invalid_request_error", rawllm.BadRequestError, 400),
    ],
)
async def test_error_event_raises_its_class(
    mock_server: MockServer, etype: str | None, cls: type[rawllm.APIStatusError], status: int
) -> None:
    script = "error@3" + (f"={etype}" if etype else "")
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults(script, "err")
        )
        got: list[Any] = []
        with pytest.raises(rawllm.APIStatusError) as info:
            async for chunk in stream:
                got.append(chunk)
        assert await settle(client) == 0
    err = info.value
    assert type(err) is cls and err.status_code == status
    assert err.body["type"] == (etype or "server_error")
    assert "Sorry about that" in err.body["message"] and "Sorry about that" in err.message
    assert len(got) == 3  # the events before the error are handed out first
    assert len(mock_server.requests) == 1


async def test_keepalive_comments_are_skipped() -> None:
    async with MockServer(keepalive_every=1) as server, client_for(server) as client:
        stream = await client.chat.completions.create(**BODY, stream=True)
        async with stream:
            chunks = [c async for c in stream]
    assert text_of(chunks) == reply_text(BODY)
    assert len(chunks) == len(plan_reply(BODY).pieces) + 2
    assert all(c.object == "chat.completion.chunk" for c in chunks)


async def test_final_equals_the_non_stream_answer(mock_server: MockServer) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"lookup_{i}",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                },
            },
        }
        for i in range(2)
    ]
    cases: list[dict[str, Any]] = [
        BODY,
        {**BODY, "max_completion_tokens": 3},
        {**BODY, "stream_options": {"include_usage": True}},
        {
            **BODY,
            "messages": [{"role": "user", "content": "call lookup_0 and lookup_1"}],
            "tools": tools,
        },
    ]
    async with client_for(mock_server) as client:
        for body in cases:
            plain = await client.chat.completions.create(**body)
            stream = await client.chat.completions.create(**body, stream=True)
            final = await stream.get_final()
            want, got = plain.choices[0], final.choices[0]
            assert got.message.content == want.message.content
            assert got.finish_reason == want.finish_reason
            want_calls = [
                (c.function.name, c.function.arguments) for c in want.message.tool_calls or []
            ]
            got_calls = [
                (c.function.name, c.function.arguments) for c in got.message.tool_calls or []
            ]
            assert got_calls == want_calls
            assert final.model == plain.model
    assert want_calls and len(want_calls) == 2  # the last case really made parallel calls


async def test_text_deltas(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(**BODY, stream=True)
        async with stream:
            deltas = [d async for d in stream.text_deltas()]
    assert deltas == list(plan_reply(BODY).pieces)
    assert "".join(deltas) == reply_text(BODY)


async def test_a_multi_megabyte_event() -> None:
    async with MockServer(big_event=3_000_000, tokens=4) as server, client_for(server) as client:
        stream = await client.chat.completions.create(**BODY, stream=True)
        final = await stream.get_final()
    content = final.choices[0].message.content
    assert content == reply_text(BODY, tokens=4, big_event=3_000_000)
    assert len(content) > 3_000_000


@pytest.mark.parametrize("fault", ["malformed", "badshape"])
async def test_bad_first_event(mock_server: MockServer, fault: str) -> None:
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults(fault, fault)
        )
        with pytest.raises(rawllm.APIResponseValidationError):
            async for _ in stream:
                pass
        assert await settle(client) == 0
    assert len(mock_server.requests) == 1


async def test_a_stream_holds_its_connection_and_slot_until_closed() -> None:
    async with MockServer(tokens=40, tokens_per_second=100) as server:
        client = client_for(server, rate_limit=rawllm.RateLimit(max_concurrency=4))
        async with client:
            stream = await client.chat.completions.create(**BODY, stream=True)
            assert checked_out(client) == 1
            assert client.limiter.state.in_flight == 1
            it = aiter(stream)
            await anext(it)
            await anext(it)
            assert checked_out(client) == 1
            other = await client.chat.completions.create(**BODY)  # needs a second connection
            assert other.choices[0].message.content == reply_text(BODY, tokens=40)
            assert checked_out(client) == 1
            await stream.close()
            assert checked_out(client) == 0
            assert client.limiter.state.in_flight == 0
            # A stream read to its end gives the connection back to the pool.
            stream = await client.chat.completions.create(**BODY, stream=True)
            await stream.until_done()
            assert checked_out(client) == 0 and client.limiter.state.in_flight == 0


async def test_stream_read_to_the_end_reuses_the_connection(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        for _ in range(3):
            stream = await client.chat.completions.create(**BODY, stream=True)
            await stream.until_done()
        connector = client._shared.transport.session.connector
        assert connector is not None
        assert sum(len(v) for v in connector._conns.values()) == 1
    assert len(mock_server.requests) == 3


async def test_concurrent_streams(mock_server: MockServer) -> None:
    async def one(i: int) -> str:
        body = {**BODY, "messages": [{"role": "user", "content": f"number {i}"}]}
        stream = await client.chat.completions.create(**body, stream=True)
        async with stream:
            return "".join([t async for t in stream.text_deltas()])

    async with client_for(mock_server) as client:
        texts = await asyncio.gather(*(one(i) for i in range(20)))
        assert await settle(client) == 0
    for i, text in enumerate(texts):
        assert text == reply_text({"messages": [{"role": "user", "content": f"number {i}"}]})


async def test_final_carries_the_request_id_and_retries(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(
            **BODY, stream=True, extra_headers=faults("500,ok", "final-rid")
        )
        async with stream:
            final = await stream.get_final()
    assert stream.request_id is not None
    assert final._request_id == stream.request_id
    assert final._retries == stream.retries == 1
    assert final.to_dict()["choices"][0]["message"]["content"] == reply_text(BODY)
