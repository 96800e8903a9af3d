"""client.responses (the OpenAI Responses API) against MockServer: plain, streamed, faults."""

from __future__ import annotations

from typing import Any

import pytest
from _pool import checked_out

import rawllm
from rawllm.testing import MockServer, plan_reply, reply_text
from rawllm.types.responses import Response

API_KEY = "sk-test-responses-0123456789"
BODY: dict[str, Any] = {"model": "gpt-4.1", "input": "what is the answer", "instructions": "terse"}


def client_for(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


def faults(script: str, key: str) -> dict[str, str]:
    return {"x-mock-faults": script, "x-mock-key": key}


async def test_response_end_to_end(mock_server: MockServer) -> None:
    plan = plan_reply(BODY, "responses")
    async with client_for(mock_server) as client:
        resp = await client.responses.create(**BODY, temperature=None, max_output_tokens=100)
    assert resp.output_text == reply_text(BODY, "responses") == plan.text
    assert resp.status == "completed"
    assert resp.usage is not None
    assert resp.usage.input_tokens == plan.prompt_tokens == 5  # input + instructions
    assert resp.usage.output_tokens == plan.completion_tokens
    assert resp.usage.total_tokens == plan.prompt_tokens + plan.completion_tokens
    assert resp._request_id is not None and resp._request_id.startswith("req_")
    whole = resp.to_dict()
    assert whole["id"] == resp.id and whole["object"] == "response"
    # Fields the Struct does not declare are still in to_dict() (the kept bytes).
    assert "store" in whole and not hasattr(resp, "store")
    assert whole["output"][0]["type"] == "message"
    [seen] = mock_server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/responses")
    assert seen.json == {**BODY, "max_output_tokens": 100}
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_max_output_tokens_makes_it_incomplete(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        resp = await client.responses.create(**BODY, max_output_tokens=2)
    assert resp.output_text == "what is"
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"


async def test_response_stream_end_to_end(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        plain = await client.responses.create(**BODY)
        stream = await client.responses.create(**BODY, stream=True)
        async with stream:
            events = [e async for e in stream]
            assert checked_out(client) == 0
    assert stream.completed
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == plain.output_text
    assert len(deltas) == len(plan_reply(BODY, "responses").pieces)
    final = stream.final()
    assert isinstance(final, Response)
    assert final.output_text == plain.output_text
    assert final.status == "completed"
    assert final.usage is not None and plain.usage is not None
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert stream.request_id == stream.headers["x-request-id"]
    assert mock_server.requests[1].json == {**BODY, "stream": True}


async def test_response_stream_text_deltas(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.responses.create(**BODY, stream=True)
        async with stream:
            text = "".join([t async for t in stream.text_deltas()])
    assert text == reply_text(BODY, "responses")


async def test_response_stream_error_event(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.responses.create(
            **BODY, stream=True, extra_headers=faults("error@3=rate_limit_exceeded", "e")
        )
        seen = []
        with pytest.raises(rawllm.RateLimitError) as info:
            async for event in stream:
                seen.append(event)
        assert checked_out(client) == 0
    assert len(seen) == 3
    assert info.value.body is not None
    assert len(mock_server.requests) == 1


async def test_response_stream_truncated(mock_server: MockServer) -> None:
    async with client_for(mock_server) as client:
        stream = await client.responses.create(
            **BODY, stream=True, extra_headers=faults("cut@5", "c")
        )
        with pytest.raises(rawllm.APIConnectionError):
            await stream.get_final()
        assert not stream.completed
        assert checked_out(client) == 0
    assert len(mock_server.requests) == 1


@pytest.mark.parametrize(
    ("script", "cls"),
    [
        ("400", rawllm.BadRequestError),
        ("404", rawllm.NotFoundError),
        ("429", rawllm.RateLimitError),
        ("500", rawllm.InternalServerError),
        ("malformed", rawllm.APIResponseValidationError),
        ("badshape", rawllm.APIResponseValidationError),
    ],
)
async def test_response_errors(mock_server: MockServer, script: str, cls: type[Exception]) -> None:
    async with client_for(mock_server, max_retries=0) as client:
        with pytest.raises(cls):
            await client.responses.create(**BODY, extra_headers=faults(script, "r"))
    assert len(mock_server.requests) == 1
