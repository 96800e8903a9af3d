"""rawllm.Anthropic against MockServer: messages (plain and streamed), count_tokens, errors."""

from __future__ import annotations

from typing import Any

import pytest
from _pool import checked_out

import rawllm
from rawllm.testing import MockServer, plan_reply, reply_text
from rawllm.types.anthropic import RawMessageStopEvent

API_KEY = "sk-ant-test-0123456789abcdef"
MSGS = [{"role": "user", "content": "hello claude friend"}]


def client_for(server: MockServer, **kw: Any) -> rawllm.Anthropic:
    return rawllm.Anthropic(api_key=API_KEY, base_url=server.anthropic_base_url, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


def assert_anthropic_headers(headers: Any) -> None:
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert headers["User-Agent"] == f"rawllm/{rawllm.__version__}"
    assert not [h for h in headers if h.lower().startswith("x-stainless")]


async def test_message_end_to_end(mock_server: MockServer) -> None:
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": MSGS}
    plan = plan_reply(body, "messages")
    async with client_for(mock_server) as client:
        msg = await client.messages.create(**body, temperature=None, system="Be brief.")
    assert msg.content[0].type == "text"
    assert msg.content[0].text == reply_text(body, "messages") == plan.text
    assert msg.role == "assistant" and msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == plan.prompt_tokens + 2  # "Be brief." counts too
    assert msg.usage.output_tokens == plan.completion_tokens
    assert msg._request_id is not None and msg._request_id.startswith("req_011")
    whole = msg.to_dict()
    assert whole["id"] == msg.id and whole["type"] == "message"
    assert whole["content"][0] == {"type": "text", "text": plan.text}
    [seen] = mock_server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.json == {**body, "system": "Be brief."}  # temperature=None not sent
    assert_anthropic_headers(seen.headers)


async def test_max_tokens_truncates(mock_server: MockServer) -> None:
    body: dict[str, Any] = {"model": "claude-x", "max_tokens": 3, "messages": MSGS}
    async with client_for(mock_server) as client:
        msg = await client.messages.create(**body)
    assert msg.content[0].text == reply_text(body, "messages") == "hello claude friend"
    assert msg.stop_reason == "max_tokens"


async def test_message_stream_end_to_end(mock_server: MockServer) -> None:
    body: dict[str, Any] = {"model": "claude-x", "max_tokens": 100, "messages": MSGS}
    async with client_for(mock_server) as client:
        plain = await client.messages.create(**body)
        stream = await client.messages.create(**body, stream=True)
        async with stream:
            pieces = [t async for t in stream.text_deltas()]
            assert checked_out(client) == 0  # read to message_stop: back in the pool
    assert "".join(pieces) == reply_text(body, "messages")
    assert len(pieces) == len(plan_reply(body, "messages").pieces)
    assert stream.completed
    assert stream.request_id == stream.headers["request-id"]
    final = stream.final()
    assert final.content[0].text == plain.content[0].text
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == plain.stop_reason
    assert mock_server.requests[1].json == {**body, "stream": True}
    assert_anthropic_headers(mock_server.requests[1].headers)


async def test_message_stream_items_are_typed(mock_server: MockServer) -> None:
    body: dict[str, Any] = {"model": "claude-x", "max_tokens": 100, "messages": MSGS}
    async with client_for(mock_server) as client:
        async with await client.messages.create(**body, stream=True) as stream:
            events = [e async for e in stream]
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert isinstance(events[-1], RawMessageStopEvent)
    assert "ping" not in types  # pings are skipped


async def test_thinking_stream_final(mock_server: MockServer) -> None:
    body: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": MSGS,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    plan = plan_reply(body, "messages")
    async with client_for(mock_server) as client:
        stream = await client.messages.create(**body, stream=True)
        final = await stream.get_final()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "".join(plan.thinking)
    assert final.content[1].text == plan.text


async def test_count_tokens_end_to_end(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        count = await client.messages.count_tokens(
            model="claude-x", messages=MSGS, system="two words"
        )
    assert count.input_tokens == 5
    assert count.to_dict() == {"input_tokens": 5}
    assert count._request_id
    [seen] = mock_server.requests
    assert seen.path == "/v1/messages/count_tokens"
    assert seen.json == {"model": "claude-x", "messages": MSGS, "system": "two words"}
    assert_anthropic_headers(seen.headers)


async def test_extra_headers_on_a_stream(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.messages.create(
            model="claude-x", max_tokens=5, messages=MSGS, stream=True, extra_headers={"X-A": "1"}
        )
        await stream.close()
    assert mock_server.requests[0].headers["X-A"] == "1"


@pytest.mark.parametrize(
    ("status", "cls", "etype"),
    [
        (400, rawllm.BadRequestError, "invalid_request_error"),
        (401, rawllm.AuthenticationError, "authentication_error"),
        (403, rawllm.PermissionDeniedError, "permission_error"),
        (404, rawllm.NotFoundError, "not_found_error"),
        (413, rawllm.RequestTooLargeError, "request_too_large"),
        (429, rawllm.RateLimitError, "rate_limit_error"),
        (500, rawllm.InternalServerError, "api_error"),
        (529, rawllm.OverloadedError, "overloaded_error"),
    ],
)
async def test_status_errors(
    mock_server: MockServer, status: int, cls: type[Exception], etype: str
) -> None:
    async with client_for(mock_server, max_retries=0) as client:
        with pytest.raises(rawllm.APIStatusError) as info:
            await client.messages.create(
                model="claude-x",
                max_tokens=5,
                messages=MSGS,
                extra_headers=faults(str(status), "a"),
            )
    err = info.value
    assert type(err) is cls and err.status_code == status
    # Anthropic's envelope is kept whole, as the official SDK does.
    assert err.body["type"] == "error" and err.body["error"]["type"] == etype
    assert err.type == etype
    assert err.body["error"]["message"] in err.message
    assert err.request_id is not None and err.request_id == err.headers["request-id"]
    assert API_KEY not in str(err) + repr(err)


async def test_overloaded_is_retried(mock_server: MockServer) -> None:
    script = "529:retry-after-ms=1,529:retry-after-ms=1"
    async with client_for(mock_server, max_retries=2) as client:
        msg = await client.messages.create(
            model="claude-x", max_tokens=5, messages=MSGS, extra_headers=faults(script, "o")
        )
    assert msg._retries == 2 and len(mock_server.requests) == 3


@pytest.mark.parametrize(
    ("etype", "cls"),
    [
        (None, rawllm.OverloadedError),
        ("rate_limit_error", rawllm.RateLimitError),
        ("invalid_request_error", rawllm.BadRequestError),
        ("api_error", rawllm.InternalServerError),
    ],
)
async def test_error_event_in_stream(
    mock_server: MockServer, etype: str | None, cls: type[Exception]
) -> None:
    script = "error@4" + (f"={etype}" if etype else "")
    async with client_for(mock_server) as client:
        stream = await client.messages.create(
            model="claude-x",
            max_tokens=50,
            messages=MSGS,
            stream=True,
            extra_headers=faults(script, "s"),
        )
        got = []
        with pytest.raises(rawllm.APIStatusError) as info:
            async for event in stream:
                got.append(event)
        assert checked_out(client) == 0
    assert type(info.value) is cls
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == (etype or "overloaded_error")
    assert 0 < len(got) <= 4
    assert len(mock_server.requests) == 1  # never retried once the body began


async def test_truncated_stream(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.messages.create(
            model="claude-x",
            max_tokens=50,
            messages=MSGS,
            stream=True,
            extra_headers=faults("cut@999", "t"),
        )
        with pytest.raises(rawllm.APIConnectionError):
            async for _ in stream:
                pass
        with pytest.raises(rawllm.APIConnectionError):
            stream.final()
    assert len(mock_server.requests) == 1


async def test_wrong_key_is_an_authentication_error() -> None:
    async with MockServer(api_key="sk-ant-the-right-one-1234") as server:
        async with client_for(server, max_retries=0) as client:
            with pytest.raises(rawllm.AuthenticationError):
                await client.messages.count_tokens(model="c", messages=MSGS)
        right = rawllm.Anthropic(
            api_key="sk-ant-the-right-one-1234", base_url=server.anthropic_base_url
        )
        async with right:
            assert (await right.messages.count_tokens(model="c", messages=MSGS)).input_tokens == 3


async def test_with_options_keeps_the_anthropic_auth(mock_server: MockServer) -> None:
    async with client_for(mock_server, max_retries=2) as client:
        copy = client.with_options(max_retries=0)
        with pytest.raises(rawllm.InternalServerError):
            await copy.messages.count_tokens(
                model="c", messages=MSGS, extra_headers=faults("500,ok", "w")
            )
        assert copy._shared is client._shared
    [seen] = mock_server.requests
    assert_anthropic_headers(seen.headers)


async def test_auth_token_is_sent_as_bearer(mock_server: MockServer) -> None:
    token = "sk-ant-oat-token-0123456789"
    client = rawllm.Anthropic(auth_token=token, base_url=mock_server.anthropic_base_url)
    async with client:
        await client.messages.count_tokens(model="c", messages=MSGS)
        with pytest.raises(rawllm.BadRequestError) as info:
            await client.messages.count_tokens(
                model="c", messages=MSGS, extra_headers=faults("400", "t")
            )
    assert token not in str(info.value) + repr(info.value) + repr(client)
    headers = mock_server.requests[0].headers
    assert headers["Authorization"] == f"Bearer {token}"
    assert "x-api-key" not in headers and headers["anthropic-version"] == "2023-06-01"
