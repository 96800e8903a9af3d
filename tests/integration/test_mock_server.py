"""MockServer against a plain aiohttp client: every endpoint, stream format, fault and counter."""

from __future__ import annotations

import asyncio
import base64
import calendar
import json
import os
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

import aiohttp
import pytest

from rawllm.testing import MockServer, embedding_vector, plan_reply, reply_text

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "tell me a story"}]}
MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "tell me a story"}],
}
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
]


def sse(raw: bytes) -> list[tuple[str, str]]:
    """A tiny SSE splitter for well-formed test streams: [(event, data)], comments dropped."""
    out = []
    for block in raw.decode().split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            out.append((event, "\n".join(data)))
    return out


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    buf = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            buf += chunk
    except aiohttp.ClientError as exc:
        return bytes(buf), exc
    return bytes(buf), None


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http, url, body, **headers):
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


# -- chat completions ------------------------------------------------------------


async def test_chat_completion_is_deterministic_and_realistic(mock_server, http):
    status, headers, raw = await post(http, mock_server.openai_base_url + "/chat/completions", CHAT)
    assert status == 200
    body = json.loads(raw)
    assert headers["content-type"].startswith("application/json")
    assert headers["x-request-id"].startswith("req_")
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    text = reply_text(CHAT)
    assert choice["message"]["content"] == text
    assert text.split()[:4] == ["tell", "me", "a", "story"] and len(text.split()) == 16
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == 4 and usage["completion_tokens"] == 16
    assert usage["total_tokens"] == 20
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


async def test_chat_tokens_header_max_tokens_n_and_logprobs(mock_server, http):
    body = {**CHAT, "max_tokens": 3, "n": 2, "logprobs": True, "top_logprobs": 2}
    url = mock_server.openai_base_url + "/chat/completions"
    status, _, raw = await post(http, url, body, **{"x-mock-tokens": "5"})
    out = json.loads(raw)
    assert status == 200
    assert [c["index"] for c in out["choices"]] == [0, 1]
    for c in out["choices"]:
        assert c["message"]["content"] == "tell me a" == reply_text(body, tokens=5)
        assert c["finish_reason"] == "length"
        tokens = [t["token"] for t in c["logprobs"]["content"]]
        assert tokens == ["tell", " me", " a"]
        assert all(len(t["top_logprobs"]) == 2 for t in c["logprobs"]["content"])
    _, _, raw = await post(http, url, CHAT, **{"x-mock-tokens": "2"})
    assert json.loads(raw)["choices"][0]["message"]["content"] == "tell me"


@pytest.mark.parametrize(
    ("tool_choice", "prompt", "called"),
    [
        ({"type": "function", "function": {"name": "get_weather"}}, "hello", True),
        ("required", "hello", True),
        ("auto", "use get_weather for Paris", True),
        (None, "use get_weather for Paris", True),
        ("auto", "hello", False),
        ("none", "use get_weather", False),
    ],
)
async def test_chat_tool_calls(mock_server, http, tool_choice, prompt, called):
    body = {**CHAT, "messages": [{"role": "user", "content": prompt}], "tools": CHAT_TOOLS}
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    _, _, raw = await post(http, mock_server.openai_base_url + "/chat/completions", body)
    choice = json.loads(raw)["choices"][0]
    if not called:
        assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
        return
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    text = plan_reply({**body, "tool_choice": "none"}).text
    assert args == {"city": text, "days": 16, "unit": "celsius"}


async def test_chat_stream(mock_server, http):
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    status, headers, raw = await post(http, mock_server.openai_base_url + "/chat/completions", body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse(raw)
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == reply_text(CHAT)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]][-1] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 16
    # without include_usage there is no usage chunk and no usage key
    _, _, raw = await post(
        http, mock_server.openai_base_url + "/chat/completions", {**CHAT, "stream": True}
    )
    chunks = [json.loads(d) for _, d in sse(raw)[:-1]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


async def test_chat_stream_tool_call_arguments_in_pieces(mock_server, http):
    body = {**CHAT, "tools": CHAT_TOOLS, "tool_choice": "required"}
    url = mock_server.openai_base_url + "/chat/completions"
    _, _, raw = await post(http, url, body)
    want = json.loads(raw)["choices"][0]["message"]["tool_calls"][0]["function"]
    _, _, raw = await post(http, url, {**body, "stream": True})
    chunks = [json.loads(d) for _, d in sse(raw)[:-1]]
    deltas = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert deltas[0]["function"]["name"] == "get_weather" and deltas[0]["id"].startswith("call_")
    assert all(d["index"] == 0 for d in deltas)
    pieces = [d["function"]["arguments"] for d in deltas]
    assert len(pieces) > 3
    assert "".join(pieces) == want["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_n_choices_interleaved(mock_server, http):
    body = {**CHAT, "stream": True, "n": 2}
    _, _, raw = await post(http, mock_server.openai_base_url + "/chat/completions", body)
    chunks = [json.loads(d) for _, d in sse(raw)[:-1]]
    for idx in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == idx]
        assert "".join(ch["delta"].get("content") or "" for ch in mine) == reply_text(CHAT)


async def test_parallel_tool_calls_stream(mock_server, http):
    tools = [*CHAT_TOOLS, {"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    body = {
        **CHAT,
        "messages": [{"role": "user", "content": "call get_time and get_weather"}],
        "tools": tools,
        "stream": True,
    }
    _, _, raw = await post(http, mock_server.openai_base_url + "/chat/completions", body)
    chunks = [json.loads(d) for _, d in sse(raw)[:-1]]
    deltas = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    by_index: dict[int, str] = {}
    names = {}
    for d in deltas:
        by_index[d["index"]] = by_index.get(d["index"], "") + d["function"]["arguments"]
        if "name" in d["function"]:
            names[d["index"]] = d["function"]["name"]
    assert names == {0: "get_weather", 1: "get_time"}  # in the order of `tools`
    assert json.loads(by_index[1]) == {}
    assert json.loads(by_index[0])["days"] == 16


def test_plan_reply_rules():
    # no user text: the filler; list content parts are joined
    assert reply_text({"messages": []}, tokens=3) == "lorem ipsum dolor"
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]}
    assert reply_text(parts, tokens=3) == "a b a"
    # the last *user* message counts; assistant turns do not
    turns = {
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ignored words"},
        ]
    }
    plan = plan_reply(turns, tokens=2)
    assert plan.text == "first first" and plan.prompt_tokens == 3
    assert plan.pieces == ("first", " first") and plan.completion_tokens == 2
    # Responses input as a list of items; max_output_tokens truncates
    items = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "x y"}]}]}
    plan = plan_reply({**items, "max_output_tokens": 1}, "responses")
    assert plan.text == "x" and plan.truncated
    assert plan_reply({**CHAT, "max_tokens": 0}).text == ""
    # Anthropic named tool choice; a text block still comes first there
    tools = [{"name": "lookup", "input_schema": {"properties": {"q": {"type": "string"}}}}]
    body = {**MESSAGES, "tools": tools, "tool_choice": {"type": "tool", "name": "lookup"}}
    plan = plan_reply(body, "messages", tokens=2)
    assert plan.text == "tell me" and [c.name for c in plan.tool_calls] == ["lookup"]
    assert json.loads(plan.tool_calls[0].arguments) == {"q": "tell me"}
    assert "".join(plan.tool_calls[0].pieces) == plan.tool_calls[0].arguments
    assert plan.completion_tokens == 2 + len(plan.tool_calls[0].pieces)
    # big_event appends one delta
    plan = plan_reply(CHAT, tokens=1, big_event=5)
    assert plan.pieces == ("tell", "xxxxx")


# -- embeddings and models -------------------------------------------------------


async def test_embeddings(mock_server, http):
    url = mock_server.openai_base_url + "/embeddings"
    body = {"model": "text-embedding-3-small", "input": ["hello world", "bye"], "dimensions": 8}
    status, _, raw = await post(http, url, body)
    out = json.loads(raw)
    assert status == 200 and out["object"] == "list" and out["model"] == body["model"]
    assert [d["index"] for d in out["data"]] == [0, 1]
    first, second = (d["embedding"] for d in out["data"])
    assert first == embedding_vector("hello world", 8) and len(first) == 8
    assert first != second
    assert sum(x * x for x in first) == pytest.approx(1.0, abs=1e-5)
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    _, _, raw = await post(http, url, {**body, "encoding_format": "base64"})
    b64 = json.loads(raw)["data"][0]["embedding"]
    assert list(struct.unpack("<8f", base64.b64decode(b64))) == first
    _, _, raw = await post(http, url, {"model": "m", "input": "hello world"})
    assert len(json.loads(raw)["data"][0]["embedding"]) == 1536
    status, _, raw = await post(http, url, {"model": "m", "input": 5})
    assert status == 400 and "input" in json.loads(raw)["error"]["message"]


async def test_models_both_shapes(mock_server, http):
    async with http.get(mock_server.openai_base_url + "/models") as resp:
        out = await resp.json()
    assert out["object"] == "list"
    assert all(m["object"] == "model" and m["owned_by"] for m in out["data"])
    headers = {"anthropic-version": "2023-06-01"}
    async with http.get(mock_server.anthropic_base_url + "/v1/models", headers=headers) as resp:
        out = await resp.json()
        assert resp.headers["request-id"].startswith("req_")
    assert out["has_more"] is False and all(m["type"] == "model" for m in out["data"])


# -- responses -------------------------------------------------------------------

RESPONSES = {"model": "gpt-4o-mini", "input": "tell me a story"}


async def test_responses_non_stream(mock_server, http):
    _, _, raw = await post(http, mock_server.openai_base_url + "/responses", RESPONSES)
    out = json.loads(raw)
    assert out["object"] == "response" and out["status"] == "completed"
    assert out["id"].startswith("resp_")
    (msg,) = out["output"]
    assert msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["content"][0]["text"] == reply_text(RESPONSES, "responses")
    assert out["usage"]["input_tokens"] == 4 and out["usage"]["output_tokens"] == 16
    body = {**RESPONSES, "max_output_tokens": 2}
    _, _, raw = await post(http, mock_server.openai_base_url + "/responses", body)
    out = json.loads(raw)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_responses_stream_event_sequence(mock_server, http):
    body = {**RESPONSES, "stream": True}
    _, _, raw = await post(http, mock_server.openai_base_url + "/responses", body)
    events = sse(raw)
    datas = [json.loads(d) for _, d in events]
    assert all(e == d["type"] for (e, _), d in zip(events, datas, strict=True))
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    kinds = [d["type"] for d in datas]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta")
    assert text == reply_text(RESPONSES, "responses")
    assert datas[-1]["response"]["output"][0]["content"][0]["text"] == text


async def test_responses_function_call_stream(mock_server, http):
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    body = {**RESPONSES, "tools": tools, "tool_choice": "required", "stream": True}
    _, _, raw = await post(http, mock_server.openai_base_url + "/responses", body)
    datas = [json.loads(d) for _, d in sse(raw)]
    added = next(d for d in datas if d["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call" and added["item"]["name"] == "get_weather"
    pieces = [d["delta"] for d in datas if d["type"] == "response.function_call_arguments.delta"]
    done = next(d for d in datas if d["type"] == "response.function_call_arguments.done")
    assert len(pieces) > 1 and "".join(pieces) == done["arguments"]
    assert json.loads(done["arguments"])["days"] == 16
    assert datas[-1]["response"]["output"][0]["arguments"] == done["arguments"]


# -- anthropic messages ----------------------------------------------------------


async def test_messages_non_stream(mock_server, http):
    status, headers, raw = await post(
        http, mock_server.anthropic_base_url + "/v1/messages", MESSAGES
    )
    out = json.loads(raw)
    assert status == 200 and headers["request-id"].startswith("req_")
    assert out["type"] == "message" and out["id"].startswith("msg_")
    assert out["content"] == [{"type": "text", "text": reply_text(MESSAGES, "messages")}]
    assert out["stop_reason"] == "end_turn"
    assert out["usage"]["input_tokens"] == 4 and out["usage"]["output_tokens"] == 16
    assert out["usage"]["cache_read_input_tokens"] == 0


async def test_messages_stream_with_thinking_and_tool_use(mock_server, http):
    tools = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    body = {
        **MESSAGES,
        "stream": True,
        "tools": tools,
        "tool_choice": {"type": "any"},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "system": "be brief",
    }
    url = mock_server.anthropic_base_url + "/v1/messages"
    _, headers, raw = await post(http, url, body)
    assert headers["content-type"].startswith("text/event-stream")
    events = sse(raw)
    datas = [json.loads(d) for _, d in events]
    assert all(e == d["type"] for (e, _), d in zip(events, datas, strict=True))
    kinds = [d["type"] for d in datas]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "ping" in kinds
    starts = [d["content_block"]["type"] for d in datas if d["type"] == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    deltas = [d["delta"] for d in datas if d["type"] == "content_block_delta"]
    text = "".join(d["text"] for d in deltas if d["type"] == "text_delta")
    assert text == reply_text(body, "messages")
    thinking = "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    assert thinking and any(d["type"] == "signature_delta" for d in deltas)
    partial = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
    assert len(partial) > 1
    assert json.loads("".join(partial)) == {"city": text, "days": 16, "unit": "celsius"}
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"
    assert datas[0]["message"]["usage"]["input_tokens"] == 6  # "be brief" + 4 words
    # the non-streamed message has the same blocks
    _, _, raw = await post(http, url, {**body, "stream": False})
    out = json.loads(raw)
    assert [b["type"] for b in out["content"]] == ["thinking", "text", "tool_use"]
    assert out["content"][0]["thinking"] == thinking and out["content"][0]["signature"]
    assert out["content"][2]["input"]["city"] == text
    assert out["usage"]["output_tokens"] == datas[-2]["usage"]["output_tokens"]


async def test_count_tokens(mock_server, http):
    body = {"model": "claude", "system": "one two", "messages": MESSAGES["messages"]}
    url = mock_server.anthropic_base_url + "/v1/messages/count_tokens"
    status, _, raw = await post(http, url, body)
    assert status == 200 and json.loads(raw) == {"input_tokens": 6}


# -- request errors --------------------------------------------------------------


async def test_request_errors_in_provider_format(mock_server, http):
    status, _, raw = await post(http, mock_server.openai_base_url + "/nope", {})
    assert status == 404 and "Invalid URL" in json.loads(raw)["error"]["message"]
    status, _, raw = await post(http, mock_server.openai_base_url + "/chat/completions", {})
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    async with http.post(mock_server.openai_base_url + "/chat/completions", data=b"{") as resp:
        assert resp.status == 400
    url = mock_server.anthropic_base_url + "/v1/messages"
    status, _, raw = await post(http, url, {"model": "m", "messages": []})
    err = json.loads(raw)
    assert status == 400 and err["type"] == "error"
    assert err["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


async def test_api_key_required():
    async with MockServer(api_key="sk-test-123") as server, aiohttp.ClientSession() as http:
        url = server.openai_base_url + "/chat/completions"
        status, _, raw = await post(http, url, CHAT)
        assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
        status, _, _ = await post(http, url, CHAT, Authorization="Bearer sk-test-123")
        assert status == 200
        url = server.anthropic_base_url + "/v1/messages"
        status, _, raw = await post(http, url, MESSAGES)
        assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"
        status, _, _ = await post(http, url, MESSAGES, **{"x-api-key": "sk-test-123"})
        assert status == 200


# -- faults ----------------------------------------------------------------------


async def test_status_sequence_then_ok(http):
    async with MockServer(faults="429,500,ok,503") as server:
        url = server.openai_base_url + "/chat/completions"
        statuses = [(await post(http, url, CHAT))[0] for _ in range(5)]
        assert statuses == [429, 500, 200, 503, 200]
        assert server.status_counts == {429: 1, 500: 1, 200: 2, 503: 1}
        assert len(server.requests) == 5


async def test_status_error_bodies_and_retry_headers(http):
    script = (
        "429:retry-after=2,429:retry-after-ms=150,429:retry-after-date=3,"
        "503:x-should-retry=false,529"
    )
    async with MockServer(faults=script) as server:
        url = server.openai_base_url + "/chat/completions"
        status, headers, raw = await post(http, url, CHAT)
        err = json.loads(raw)["error"]
        assert status == 429 and headers["retry-after"] == "2"
        assert err["code"] == "rate_limit_exceeded" and "Rate limit" in err["message"]
        assert headers["x-request-id"].startswith("req_")
        _, headers, _ = await post(http, url, CHAT)
        assert headers["retry-after-ms"] == "150" and "retry-after" not in headers
        _, headers, _ = await post(http, url, CHAT)
        ahead = parsedate_to_datetime(headers["retry-after"]).timestamp() - time.time()
        assert 1.5 < ahead <= 3.5
        status, headers, raw = await post(http, url, CHAT)
        assert status == 503 and headers["x-should-retry"] == "false"
        assert json.loads(raw)["error"]["type"] == "server_error"
        status, _, raw = await post(http, server.anthropic_base_url + "/v1/messages", MESSAGES)
        assert status == 529
        assert json.loads(raw) == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }


async def test_reset_before_response(http):
    async with MockServer(faults="reset") as server:
        url = server.openai_base_url + "/chat/completions"
        with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
            await post(http, url, CHAT)
        assert (await post(http, url, CHAT))[0] == 200
        assert len(server.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_after_headers(http, stream):
    async with MockServer(faults="reset-after-headers") as server:
        url = server.openai_base_url + "/chat/completions"
        async with http.post(url, json={**CHAT, "stream": stream}) as resp:
            assert resp.status == 200
            raw, exc = await read_until_error(resp)
        assert raw == b"" and isinstance(exc, aiohttp.ClientPayloadError)


async def test_stall_for_seconds_then_answer(http):
    async with MockServer(faults="stall=0.3") as server:
        start = time.monotonic()
        status, _, _ = await post(http, server.openai_base_url + "/chat/completions", CHAT)
        assert status == 200 and time.monotonic() - start >= 0.3


async def test_stall_forever_ends_when_client_gives_up_or_server_closes(http):
    async with MockServer(faults="stall,stall") as server:
        url = server.openai_base_url + "/chat/completions"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(post(http, url, CHAT), 0.3)
        for _ in range(50):  # the handler is cancelled when the client disconnects
            if server.in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert server.in_flight == 0
        task = asyncio.ensure_future(post(http, url, CHAT))
        while server.in_flight == 0:
            await asyncio.sleep(0.01)
        start = time.monotonic()
    # leaving the block closed the server: the stalled request ends at once, with an error
    with pytest.raises(aiohttp.ClientError):
        await task
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
async def test_malformed_and_badshape_non_stream(http, path):
    body = RESPONSES if path.endswith("responses") else MESSAGES
    async with MockServer(faults="malformed,badshape") as server:
        status, headers, raw = await post(http, server.url + path, body)
        assert status == 200 and headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        status, _, raw = await post(http, server.url + path, body)
        shaped = json.loads(raw)
        assert status == 200 and isinstance(shaped["id"], int)


async def test_malformed_stream_event(http):
    async with MockServer(faults="malformed,badshape") as server:
        url = server.openai_base_url + "/chat/completions"
        _, _, raw = await post(http, url, {**CHAT, "stream": True})
        with pytest.raises(json.JSONDecodeError):
            json.loads(sse(raw)[0][1])
        _, _, raw = await post(http, url, {**CHAT, "stream": True})
        assert json.loads(sse(raw)[0][1]) == {"choices": 5}


async def test_html502(http):
    async with MockServer(faults="html502") as server:
        status, headers, raw = await post(http, server.openai_base_url + "/chat/completions", CHAT)
        assert status == 502 and headers["content-type"].startswith("text/html")
        assert b"<title>502 Bad Gateway</title>" in raw
        assert server.status_counts[502] == 1


@pytest.mark.parametrize(
    ("path", "body", "terminator"),
    [
        ("/v1/chat/completions", CHAT, ("message", "[DONE]")),
        ("/v1/messages", MESSAGES, "message_stop"),
        ("/v1/responses", RESPONSES, "response.completed"),
    ],
)
async def test_cut_after_n_events(http, path, body, terminator):
    async with MockServer(faults="cut@3,cut@999") as server:
        async with http.post(server.url + path, json={**body, "stream": True}) as resp:
            assert resp.status == 200
            raw, exc = await read_until_error(resp)
        assert isinstance(exc, aiohttp.ClientPayloadError)
        assert len(sse(raw)) == 3
        # N past the end still never sends the terminator
        async with http.post(server.url + path, json={**body, "stream": True}) as resp:
            raw, exc = await read_until_error(resp)
        events = sse(raw)
        assert isinstance(exc, aiohttp.ClientPayloadError) and len(events) > 3
        last = events[-1] if isinstance(terminator, tuple) else events[-1][0]
        assert last != terminator


async def test_cut_non_stream_body(http):
    async with MockServer(faults="cut@10") as server:
        async with http.post(server.openai_base_url + "/chat/completions", json=CHAT) as resp:
            assert resp.status == 200
            raw, exc = await read_until_error(resp)
        assert len(raw) == 10 and isinstance(exc, aiohttp.ClientPayloadError)


async def test_error_after_n_events(http):
    async with MockServer(faults="error@2,error@3,error@1=rate_limit_error") as server:
        _, _, raw = await post(
            http, server.openai_base_url + "/chat/completions", {**CHAT, "stream": True}
        )
        events = sse(raw)
        assert len(events) == 3
        assert json.loads(events[-1][1])["error"]["type"] == "server_error"
        url = server.anthropic_base_url + "/v1/messages"
        _, _, raw = await post(http, url, {**MESSAGES, "stream": True})
        events = sse(raw)
        assert len(events) == 4 and events[-1][0] == "error"
        assert json.loads(events[-1][1]) == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
        _, _, raw = await post(
            http, server.openai_base_url + "/responses", {**RESPONSES, "stream": True}
        )
        events = sse(raw)
        assert events[-1][0] == "error"
        err = json.loads(events[-1][1])
        assert err["code"] == "rate_limit_error" and err["sequence_number"] == 1


async def test_error_at_on_non_stream_is_a_server_error(http):
    async with MockServer(faults="error@2,error@2") as server:
        assert (await post(http, server.openai_base_url + "/chat/completions", CHAT))[0] == 500
        assert (await post(http, server.anthropic_base_url + "/v1/messages", MESSAGES))[0] == 529


async def test_stall_after_n_events(http):
    async with MockServer(faults="stall@2=0.4") as server:
        url = server.openai_base_url + "/chat/completions"
        async with http.post(url, json={**CHAT, "stream": True}) as resp:
            start = time.monotonic()
            buf = b""
            times = []
            async for chunk in resp.content.iter_any():
                buf += chunk
                times.append((time.monotonic() - start, len(sse(buf))))
        assert sse(buf)[-1] == ("message", "[DONE]")
        early = [n for t, n in times if t < 0.3]
        assert early and max(early) <= 2  # nothing past event 2 before the stall
        assert times[-1][0] >= 0.35


async def test_per_request_script_header_keyed(mock_server, http):
    url = mock_server.openai_base_url + "/chat/completions"
    a = {"x-mock-faults": "429,500", "x-mock-key": "test-a"}
    b = {"x-mock-faults": "503", "x-mock-key": "test-b"}
    # interleaved "retries" of two tests: each key consumes its own script, installed once
    assert (await post(http, url, CHAT, **a))[0] == 429
    assert (await post(http, url, CHAT, **b))[0] == 503
    assert (await post(http, url, CHAT, **a))[0] == 500
    assert (await post(http, url, CHAT, **b))[0] == 200
    assert (await post(http, url, CHAT, **a))[0] == 200
    assert (await post(http, url, CHAT))[0] == 200  # no key: the global script (empty)
    # without a key, the script text is the key
    assert (await post(http, url, CHAT, **{"x-mock-faults": "html502"}))[0] == 502
    assert (await post(http, url, CHAT, **{"x-mock-faults": "html502"}))[0] == 200
    status, _, raw = await post(http, url, CHAT, **{"x-mock-faults": "teapot"})
    assert status == 400 and b"teapot" in raw


async def test_set_faults_at_runtime(mock_server, http):
    url = mock_server.openai_base_url + "/chat/completions"
    assert (await post(http, url, CHAT))[0] == 200
    mock_server.set_faults("500,502")
    assert mock_server.pending_faults() == "500,502"
    assert (await post(http, url, CHAT))[0] == 500
    assert mock_server.pending_faults() == "502"
    mock_server.set_faults("409", key="k")
    assert (await post(http, url, CHAT, **{"x-mock-key": "k"}))[0] == 409
    assert (await post(http, url, CHAT))[0] == 502
    with pytest.raises(ValueError):
        mock_server.set_faults("bogus")


async def test_latency_and_latency_header(http):
    async with MockServer(latency=0.25) as server:
        url = server.openai_base_url + "/chat/completions"
        start = time.monotonic()
        await post(http, url, CHAT)
        assert time.monotonic() - start >= 0.25
        start = time.monotonic()
        await post(http, url, CHAT, **{"x-mock-latency": "0"})
        assert time.monotonic() - start < 0.2


# -- stream shaping --------------------------------------------------------------


async def test_tokens_per_second_and_keepalives(http):
    async with MockServer(tokens=10, tokens_per_second=50, keepalive_every=2) as server:
        url = server.openai_base_url + "/chat/completions"
        start = time.monotonic()
        _, _, raw = await post(http, url, {**CHAT, "stream": True})
        elapsed = time.monotonic() - start
    assert 12 / 50 * 0.9 <= elapsed < 2.0  # 13 frames: 12 pauses of 1/50 s
    assert raw.count(b": keep-alive\n\n") == 6
    assert "".join(
        json.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in sse(raw)[:-1]
    ) == reply_text(CHAT, tokens=10)


async def test_big_event(http):
    size = 3 * 1024 * 1024
    async with MockServer(big_event=size) as server:
        url = server.openai_base_url + "/chat/completions"
        _, _, raw = await post(http, url, {**CHAT, "stream": True})
        events = sse(raw)
        assert max(len(d) for _, d in events) > size
        text = "".join(
            json.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in events[:-1]
        )
        assert text == server.reply_text(CHAT) and text.endswith("x" * size)


# -- strict provider -------------------------------------------------------------


async def test_strict_rpm_openai_headers(http):
    async with MockServer(rpm=120) as server:  # 2 per second, burst 2
        url = server.openai_base_url + "/chat/completions"
        results = [await post(http, url, CHAT) for _ in range(3)]
        assert [s for s, _, _ in results] == [200, 200, 429]
        ok_headers = results[0][1]
        assert ok_headers["x-ratelimit-limit-requests"] == "120"
        assert ok_headers["x-ratelimit-remaining-requests"] == "1"
        assert ok_headers["x-ratelimit-reset-requests"].endswith("ms")
        status, headers, raw = results[2]
        assert headers["retry-after"] == "1" and 0 < int(headers["retry-after-ms"]) <= 500
        assert headers["x-ratelimit-remaining-requests"] == "0"
        err = json.loads(raw)["error"]
        assert err["code"] == "rate_limit_exceeded" and "(RPM): Limit 120" in err["message"]
        assert server.rate_limited == 1 and server.status_counts[429] == 1
        await asyncio.sleep(int(headers["retry-after-ms"]) / 1000 + 0.05)
        assert (await post(http, url, CHAT))[0] == 200


async def test_strict_tpm_anthropic_headers(http):
    # cost = 4 prompt words + max_tokens 1024 = 1028 > 600 tokens per second burst: the
    # first passes (into debt), the second waits until the bucket refills.
    async with MockServer(tpm=36_000, rpm=6000) as server:
        url = server.anthropic_base_url + "/v1/messages"
        status, headers, _ = await post(http, url, MESSAGES)
        assert status == 200
        assert headers["anthropic-ratelimit-tokens-limit"] == "36000"
        assert headers["anthropic-ratelimit-requests-limit"] == "6000"
        assert int(headers["anthropic-ratelimit-tokens-remaining"]) == 0
        reset = time.strptime(headers["anthropic-ratelimit-tokens-reset"], "%Y-%m-%dT%H:%M:%SZ")
        ahead = calendar.timegm(reset) - time.time()
        assert 0 < ahead <= 3
        status, headers, raw = await post(http, url, MESSAGES)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert json.loads(raw)["error"]["type"] == "rate_limit_error"
        assert "tokens per minute" in json.loads(raw)["error"]["message"]
        assert server.rate_limited == 1


async def test_strict_paced_client_gets_no_429(http):
    async with MockServer(rpm=600) as server:  # 10/s, burst 10
        url = server.openai_base_url + "/chat/completions"
        statuses = []
        for _ in range(25):
            statuses.append((await post(http, url, CHAT))[0])
            await asyncio.sleep(0.1)
        assert statuses == [200] * 25 and server.rate_limited == 0


# -- observability ---------------------------------------------------------------


async def test_recorded_requests_and_peak_in_flight(http):
    async with MockServer(latency=0.2) as server:
        url = server.openai_base_url + "/chat/completions"
        before = time.monotonic()
        await asyncio.gather(*(post(http, url, CHAT, **{"x-test": str(i)}) for i in range(5)))
        assert server.peak_in_flight == 5 and server.in_flight == 0
        assert len(server.requests) == 5
        rec = server.requests[0]
        assert rec.method == "POST" and rec.path == "/v1/chat/completions"
        assert rec.json == CHAT and before <= rec.time <= time.monotonic()
        assert sorted(r.headers["X-Test"] for r in server.requests) == [str(i) for i in range(5)]
        server.reset_stats()
        assert server.requests == [] and server.peak_in_flight == 0 and not server.status_counts
        await post(http, url, CHAT)
        assert server.peak_in_flight == 1 and server.status_counts == {200: 1}


async def test_record_off(http):
    async with MockServer(record=False) as server:
        await post(http, server.openai_base_url + "/chat/completions", CHAT)
        assert server.requests == [] and server.status_counts[200] == 1


# -- other ways to run it ----------------------------------------------------------


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_start_in_thread_from_sync_code():
    server = MockServer(faults="500").start_in_thread()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(server.openai_base_url + "/models")
        assert info.value.code == 500
        info.value.close()
        assert _get(server.openai_base_url + "/models")["object"] == "list"
        assert len(server.requests) == 2
    finally:
        server.stop_thread()
    with pytest.raises(urllib.error.URLError):
        _get(server.openai_base_url + "/models")


def test_sync_context_manager():
    with MockServer() as server:
        assert _get(server.url + "/v1/models")["data"]


def test_cli_subprocess_prints_url_and_stops_cleanly():
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "rawllm.testing", "--port", "0", "--faults", "503"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(url + "/v1/models")
        assert info.value.code == 503
        info.value.close()
        assert _get(url + "/v1/models")["object"] == "list"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, err
    assert err == ""


def test_cli_rejects_a_bad_script():
    proc = subprocess.run(
        [sys.executable, "-m", "rawllm.testing", "--port", "0", "--faults", "teapot"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 2 and "teapot" in proc.stderr
