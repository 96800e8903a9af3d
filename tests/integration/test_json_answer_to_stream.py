"""A 2xx application/json body answering stream=True is the answer (a proxy that drops ``stream``).

MockServer's ``nostream`` fault step answers a stream request with the whole
JSON body the non-streaming call gets.  The client yields it as the
equivalent stream: iteration, ``text_deltas()`` and ``final()`` work, and
``final()`` equals the non-streamed answer.  It is never reported as a
connection failure, and nothing is retried.
"""

from __future__ import annotations

from typing import Any

import pytest
from _pool import settle
from _serve import one_route

import rawllm
from rawllm.testing import MockServer

KEY = "sk-test-json-answer-0123456789"
MSGS = [{"role": "user", "content": "answer me without streaming"}]


def nostream(key: str) -> dict[str, str]:
    return {"x-mock-faults": "nostream", "x-mock-key": key}


async def test_chat_stream_answered_with_json(mock_server: MockServer) -> None:
    async with rawllm.OpenAI(api_key=KEY, base_url=mock_server.openai_base_url) as client:
        whole = await client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, stream=True, extra_headers=nostream("c1")
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
        assert len(chunks) == 1
        assert chunks[0].choices[0].delta.content == whole.choices[0].message.content
        final = stream.final()
        assert final.choices[0].message.content == whole.choices[0].message.content
        assert final.choices[0].finish_reason == whole.choices[0].finish_reason
        assert final.usage == whole.usage

        again = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, stream=True, extra_headers=nostream("c2")
        )
        async with again:
            text = "".join([t async for t in again.text_deltas()])
        assert text == whole.choices[0].message.content
        assert await settle(client) == 0
    assert mock_server.status_counts[200] == 3  # no retry: a JSON answer is not a failure


async def test_anthropic_stream_answered_with_json(mock_server: MockServer) -> None:
    kw: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MSGS}
    async with rawllm.Anthropic(api_key=KEY, base_url=mock_server.anthropic_base_url) as client:
        whole = await client.messages.create(**kw)
        stream = await client.messages.create(**kw, stream=True, extra_headers=nostream("a1"))
        async with stream:
            events = [e async for e in stream]
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        final = stream.final()
        assert final.content == whole.content and final.usage == whole.usage
        assert final.stop_reason == whole.stop_reason


async def test_responses_stream_answered_with_json(mock_server: MockServer) -> None:
    async with rawllm.OpenAI(api_key=KEY, base_url=mock_server.openai_base_url) as client:
        whole = await client.responses.create(model="gpt-5-mini", input="hi")
        stream = await client.responses.create(
            model="gpt-5-mini", input="hi", stream=True, extra_headers=nostream("r1")
        )
        async with stream:
            text = "".join([t async for t in stream.text_deltas()])
        assert text == whole.output_text
        assert stream.final().output_text == whole.output_text


@pytest.mark.parametrize(
    "body,error",
    [
        ({"error": {"type": "rate_limit_error", "message": "slow down"}}, rawllm.RateLimitError),
        ({"unexpected": True}, rawllm.APIResponseValidationError),
    ],
)
async def test_a_2xx_json_error_body_to_a_stream_raises_its_typed_error(
    body: dict[str, Any], error: type[Exception]
) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    async with one_route(handler) as base_url:
        async with rawllm.OpenAI(api_key=KEY, base_url=base_url) as client:
            with pytest.raises(error):
                stream = await client.chat.completions.create(model="m", messages=MSGS, stream=True)
                async with stream:
                    async for _ in stream:
                        pass
