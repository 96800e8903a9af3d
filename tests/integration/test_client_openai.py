"""rawllm.OpenAI against MockServer: every endpoint, request building, errors, client lifecycle."""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from typing import Any

import aiohttp
import msgspec
import pytest
from _pool import checked_out, settle

import rawllm
from rawllm.testing import MockServer, embedding_vector, plan_reply, reply_text

API_KEY = "sk-test-openai-0123456789abcdef"
MSGS = [{"role": "user", "content": "tell me a story"}]


def client_for(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


# -- endpoints -----------------------------------------------------------------


async def test_chat_completion_end_to_end(mock_server: MockServer) -> None:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}
    async with client_for(mock_server) as client:
        resp = await client.chat.completions.create(**body)
    plan = plan_reply(body)
    assert resp.choices[0].message.content == reply_text(body) == plan.text
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-mini"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == plan.prompt_tokens == 4
    assert resp.usage.completion_tokens == plan.completion_tokens
    assert resp.usage.total_tokens == plan.prompt_tokens + plan.completion_tokens
    assert resp._request_id is not None and resp._request_id.startswith("req_")
    assert resp._retries == 0
    whole = resp.to_dict()
    assert whole["id"] == resp.id and whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == plan.text
    # The kept bytes, not a re-encoding of the Struct: nulls the server sent survive.
    assert "system_fingerprint" in whole and "logprobs" in whole["choices"][0]
    assert "logprobs" not in msgspec.to_builtins(resp)["choices"][0]

    [seen] = mock_server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.json == body


async def test_request_ids_differ_per_call(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        a = await client.chat.completions.create(model="m", messages=MSGS)
        b = await client.chat.completions.create(model="m", messages=MSGS)
    assert a._request_id and b._request_id and a._request_id != b._request_id
    assert a.id != b.id


async def test_chat_stream_end_to_end(mock_server: MockServer) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": MSGS,
        "stream_options": {"include_usage": True},
    }
    plan = plan_reply(body)
    async with client_for(mock_server) as client:
        stream = await client.chat.completions.create(**body, stream=True)
        async with stream:
            chunks = [chunk async for chunk in stream]
        baseline = await client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plan.text
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert stream.completed
    assert stream.request_id == stream.headers["x-request-id"]
    final = stream.final()
    assert final.choices[0].message.content == baseline.choices[0].message.content
    assert final.usage is not None and final.usage.completion_tokens == plan.completion_tokens
    assert mock_server.requests[0].json == {**body, "stream": True}
    assert mock_server.requests[0].headers["Accept"] == "text/event-stream"


async def test_embeddings_end_to_end(mock_server: MockServer) -> None:
    inputs = ["the quick brown fox", "jumps"]
    async with client_for(mock_server) as client:
        resp = await client.embeddings.create(model="text-embedding-3-small", input=inputs)
    assert [d.index for d in resp.data] == [0, 1]
    for item, text in zip(resp.data, inputs, strict=True):
        assert item.embedding == pytest.approx(embedding_vector(text), abs=1e-6)
    assert resp.data[0].embedding != resp.data[1].embedding
    assert resp.usage is not None and resp.usage.prompt_tokens == 5
    assert resp._request_id and resp.to_dict()["model"] == "text-embedding-3-small"
    assert mock_server.requests[0].json == {"model": "text-embedding-3-small", "input": inputs}


async def test_models_list_end_to_end(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        models = await client.models.list()
    ids = [m.id for m in models.data]
    assert "gpt-4o-mini" in ids and len(ids) == len(set(ids))
    assert models.to_dict()["data"][0]["id"] == ids[0]
    assert models._request_id
    [seen] = mock_server.requests
    assert (seen.method, seen.path, seen.body) == ("GET", "/v1/models", b"")


# -- request building ------------------------------------------------------------


async def test_keyword_arguments_sent_and_none_not_sent(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MSGS,
            temperature=0.25,
            top_p=None,  # None: not sent
            max_completion_tokens=5,
            stream=False,
            # provider extras go in extra_body; it wins over the keyword
            extra_body={"seed": 7, "temperature": 0.5, "vendor_knob": {"a": 1}},
        )
    assert mock_server.requests[0].json == {
        "model": "gpt-4o-mini",
        "messages": MSGS,
        "temperature": 0.5,
        "max_completion_tokens": 5,
        "vendor_knob": {"a": 1},
        "stream": False,
        "seed": 7,
    }


async def test_default_headers_auth_and_user_agent(mock_server: MockServer) -> None:
    async with client_for(mock_server, default_headers={"X-Team": "core"}) as client:
        await client.chat.completions.create(model="m", messages=MSGS)
        await client.models.list(extra_headers={"X-Trace": "t-1"})
    for seen in mock_server.requests:
        assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
        assert seen.headers["User-Agent"] == f"rawllm/{rawllm.__version__}"
        assert seen.headers["X-Team"] == "core"
        assert not [h for h in seen.headers if h.lower().startswith("x-stainless")]
        assert "anthropic-version" not in seen.headers
    assert mock_server.requests[0].headers["Content-Type"] == "application/json"
    assert "X-Trace" not in mock_server.requests[0].headers
    assert mock_server.requests[1].headers["X-Trace"] == "t-1"


async def test_extra_query_and_headers_per_call(mock_server: MockServer) -> None:
    """The URL as sent, seen through an aiohttp trace on a borrowed session."""
    urls: list[str] = []

    async def on_start(_s: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = client_for(mock_server, session=session)
        await client.chat.completions.create(
            model="m",
            messages=MSGS,
            extra_query={"api-version": "2024-10-21"},
            extra_headers={"X-Per-Call": "yes"},
        )
        await client.chat.completions.create(model="m", messages=MSGS)
        await client.close()
    assert urls == [
        f"{mock_server.openai_base_url}/chat/completions?api-version=2024-10-21",
        f"{mock_server.openai_base_url}/chat/completions",
    ]
    first, second = mock_server.requests
    assert first.headers["X-Per-Call"] == "yes" and "X-Per-Call" not in second.headers
    # A borrowed session still gets rawllm's headers on every request.
    assert second.headers["Authorization"] == f"Bearer {API_KEY}"
    assert second.headers["User-Agent"] == f"rawllm/{rawllm.__version__}"


async def test_timeout_per_call(mock_server: MockServer) -> None:
    slow = {"x-mock-latency": "1.0"}
    async with client_for(mock_server, max_retries=0, timeout=30) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.chat.completions.create(
                model="m", messages=MSGS, extra_headers=slow, timeout=0.3
            )
        assert info.value.timeout == "total"
        assert loop.time() - t0 < 0.9
        with pytest.raises(rawllm.APITimeoutError) as info:
            await client.embeddings.create(
                model="e", input="x", extra_headers=slow, timeout=rawllm.Timeout(read=0.3)
            )
        assert info.value.timeout == "read"
        # The client's own default (30 s) still applies to the next call.
        resp = await client.chat.completions.create(
            model="m", messages=MSGS, extra_headers={"x-mock-latency": "0.4"}
        )
    assert resp.choices[0].message.content == reply_text({"messages": MSGS})


# -- errors ------------------------------------------------------------------------

STATUS_CLASSES = [
    (400, rawllm.BadRequestError),
    (401, rawllm.AuthenticationError),
    (403, rawllm.PermissionDeniedError),
    (404, rawllm.NotFoundError),
    (413, rawllm.RequestTooLargeError),
    (422, rawllm.UnprocessableEntityError),
    (429, rawllm.RateLimitError),
    (500, rawllm.InternalServerError),
    (503, rawllm.InternalServerError),
    (529, rawllm.OverloadedError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_errors(mock_server: MockServer, status: int, cls: type[Exception]) -> None:
    async with client_for(mock_server, max_retries=0) as client:
        with pytest.raises(rawllm.APIStatusError) as info:
            await client.chat.completions.create(
                model="m", messages=MSGS, extra_headers=faults(str(status), "e")
            )
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert err.headers["x-request-id"] == err.request_id
    assert isinstance(err.body, dict) and err.body["message"] in err.message
    assert err.message.startswith(f"Error code: {status}")
    assert err.retries == 0
    assert len(mock_server.requests) == 1
    assert API_KEY not in str(err) and API_KEY not in repr(err)


async def test_conflict_is_retried_then_raised(mock_server: MockServer) -> None:
    script = ",".join(["409:retry-after-ms=1"] * 3)
    async with client_for(mock_server, max_retries=2) as client:
        with pytest.raises(rawllm.ConflictError) as info:
            await client.chat.completions.create(
                model="m", messages=MSGS, extra_headers=faults(script, "c")
            )
    assert info.value.status_code == 409 and info.value.retries == 2
    assert len(mock_server.requests) == 3


async def test_html_502_page(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=0) as client:
        with pytest.raises(rawllm.InternalServerError) as info:
            await client.models.list(extra_headers=faults("html502", "h"))
    err = info.value
    assert err.status_code == 502
    assert isinstance(err.body, str) and "<center><h1>502 Bad Gateway</h1></center>" in err.body
    assert "502 Bad Gateway" in err.message and "<" not in err.message


@pytest.mark.parametrize("fault", ["malformed", "badshape"])
async def test_bad_200_body_is_a_validation_error(mock_server: MockServer, fault: str) -> None:
    async with client_for(mock_server) as client:
        with pytest.raises(rawllm.APIResponseValidationError) as info:
            await client.chat.completions.create(
                model="m", messages=MSGS, extra_headers=faults(fault, fault)
            )
        with pytest.raises(rawllm.APIResponseValidationError):
            await client.embeddings.create(
                model="e", input="x", extra_headers=faults(fault, fault + "-e")
            )
    assert info.value.status_code == 200
    assert info.value.body is not None
    assert len(mock_server.requests) == 2  # not retried


async def test_api_key_never_in_errors_or_retry_logs(
    mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Even a key that leaks into the URL (a proxy's ``?key=``) is redacted in logs and errors."""
    caplog.set_level(logging.DEBUG, logger="rawllm")
    errors: list[BaseException] = []
    leaky = {"key": API_KEY}
    async with client_for(mock_server, max_retries=1) as client:
        for script in ("500:retry-after-ms=1,401", "reset,reset", "429:retry-after-ms=1,html502"):
            with pytest.raises(rawllm.APIError) as info:
                await client.chat.completions.create(
                    model="m",
                    messages=MSGS,
                    extra_query=leaky,
                    extra_headers=faults(script, script),
                )
            errors.append(info.value)
    nowhere = rawllm.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:1/v1", max_retries=0)
    async with nowhere:
        with pytest.raises(rawllm.APIError) as info:
            await nowhere.models.list(extra_query=leaky)
        errors.append(info.value)
    assert [type(e) for e in errors] == [
        rawllm.AuthenticationError,
        rawllm.APIConnectionError,
        rawllm.InternalServerError,
        rawllm.APIConnectionError,
    ]
    for err in errors:
        text = str(err) + repr(err) + "".join(traceback.format_exception(err))
        assert API_KEY not in text
    logs = [r for r in caplog.records if r.name == "rawllm"]
    assert len([r for r in logs if "retrying" in r.getMessage()]) == 3
    for record in logs:  # the retry lines and the limiter's slowdown line
        assert API_KEY not in record.getMessage()
        assert API_KEY not in str(record.args) and API_KEY not in str(record.msg)
    assert API_KEY not in repr(client)


# -- lifecycle ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_IMPORT_PORT = _free_port()
# Built at import time, outside any event loop.
IMPORT_TIME_CLIENT = rawllm.OpenAI(api_key=API_KEY, base_url=f"http://127.0.0.1:{_IMPORT_PORT}/v1")


async def test_client_built_at_import_time() -> None:
    async with MockServer(port=_IMPORT_PORT) as server:
        resp = await IMPORT_TIME_CLIENT.chat.completions.create(model="m", messages=MSGS)
        await IMPORT_TIME_CLIENT.close()
    assert resp.choices[0].message.content == reply_text({"messages": MSGS})
    assert len(server.requests) == 1


def test_client_built_in_sync_code_used_in_a_loop() -> None:
    with MockServer() as server:  # in its own thread and loop
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        client = client_for(server, rate_limit=rawllm.RateLimit(max_concurrency=2))

        async def use() -> list[str | None]:
            async with client:
                got = await asyncio.gather(
                    *(client.chat.completions.create(model="m", messages=MSGS) for _ in range(4))
                )
            return [r.choices[0].message.content for r in got]

        assert asyncio.run(use()) == [reply_text({"messages": MSGS})] * 4
        assert len(server.requests) == 4


def _closed(session: aiohttp.ClientSession) -> bool:
    return session.closed  # (a call, so that mypy does not narrow the attribute)


async def test_async_with_closes_the_pool(mock_server: MockServer) -> None:
    client = client_for(mock_server)
    async with client:
        await client.models.list()
        session = client._shared.transport.session
        assert not session.closed
    assert client.is_closed
    assert _closed(session)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(rawllm.APIConnectionError, match="closed") as info:
        await client.models.list()
    with pytest.raises(rawllm.APIConnectionError, match="closed"):
        await client.chat.completions.create(model="m", messages=MSGS, stream=True)
    assert loop.time() - t0 < 0.2  # raised at once: no retry backoff for a closed client
    assert info.value.retries == 0
    assert len(mock_server.requests) == 1


async def test_with_options_shares_pool_and_limiter(mock_server: MockServer) -> None:
    client = client_for(mock_server, rate_limit=rawllm.RateLimit(max_concurrency=1))
    async with client:
        copy = client.with_options(max_retries=0, timeout=5)
        assert (copy.max_retries, copy.timeout.total) == (0, 5.0)
        assert (client.max_retries, client.timeout.total) == (2, None)
        await copy.models.list()
        session = client._shared.transport.session
        assert copy._shared.transport.session is session
        assert copy._shared.transport.session.connector is session.connector
        assert copy.limiter is client.limiter
        # One concurrency slot for both: a stream open on the original blocks the copy.
        stream = await client.chat.completions.create(model="m", messages=MSGS, stream=True)
        waiting = asyncio.ensure_future(copy.models.list())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await stream.close()
        models = await asyncio.wait_for(waiting, 5)
        assert models.data
        # Closing the copy closes the shared pool.
        await copy.close()
        assert client.is_closed
        with pytest.raises(rawllm.APIConnectionError):
            await client.models.list()


async def test_borrowed_session_is_not_closed(mock_server: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = client_for(mock_server, session=session)
        async with client:
            await client.chat.completions.create(model="m", messages=MSGS)
            assert client._shared.transport.session is session
            assert await settle(client) == 0
        assert not session.closed
        async with session.get(f"{mock_server.openai_base_url}/models") as resp:
            assert resp.status == 200
    assert len(mock_server.requests) == 2


async def test_connections_are_reused(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        for _ in range(5):
            await client.chat.completions.create(model="m", messages=MSGS)
            assert checked_out(client) == 0
        connector = client._shared.transport.session.connector
        assert connector is not None
        idle = sum(len(v) for v in connector._conns.values())
        assert idle == 1


async def test_borrowed_session_closed_by_its_owner(mock_server: MockServer) -> None:
    session = aiohttp.ClientSession()
    client = client_for(mock_server, session=session, max_retries=0)
    await client.models.list()
    await session.close()
    # aiohttp says "Session is closed" with a bare RuntimeError: it must not escape.
    with pytest.raises(rawllm.APIConnectionError):
        await client.models.list()
    with pytest.raises(rawllm.APIConnectionError):
        await client.chat.completions.create(model="m", messages=MSGS, stream=True)
    await client.close()
    assert len(mock_server.requests) == 1
