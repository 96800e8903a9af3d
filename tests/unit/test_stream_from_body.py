"""A whole JSON body answering a stream request is the answer: the equivalent stream items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rawllm
from rawllm import _formats as formats
from rawllm._accumulate import ChatCompletionAccumulator, chunk_text
from rawllm._accumulate_events import MessageAccumulator, ResponseAccumulator
from rawllm._wire import anthropic as anthropic_wire
from rawllm._wire import openai as chat_wire
from rawllm._wire import responses as responses_wire
from rawllm.types import anthropic as a
from rawllm.types import openai as o

PAYLOADS = Path(__file__).parent / "payloads"


def payloads(prefix: str) -> list[Path]:
    found = sorted(PAYLOADS.glob(f"{prefix}*.json"))
    assert found
    return found


@pytest.mark.parametrize("path", payloads("openai_chat_completion"), ids=lambda p: p.stem)
def test_chat_body_is_one_chunk_and_done(path: Path) -> None:
    body = path.read_bytes()
    final, items = chat_wire.stream_from_body(body)
    assert final == chat_wire.decode_chat_completion(body)
    chunk, end = items
    assert end is chat_wire.DONE and isinstance(chunk, o.ChatCompletionChunk)
    acc = ChatCompletionAccumulator()
    acc.add(chunk)
    folded = acc.result()
    for got, want in zip(folded.choices, final.choices, strict=True):
        assert got.message.content == want.message.content
        assert got.message.reasoning_content == want.message.reasoning_content
        assert got.message.tool_calls == (want.message.tool_calls or None)
        assert got.finish_reason == want.finish_reason
    assert folded.usage == final.usage and folded.id == final.id
    assert chunk_text(chunk) == (final.choices[0].message.content or None)


@pytest.mark.parametrize("path", payloads("anthropic_message"), ids=lambda p: p.stem)
def test_message_body_is_the_event_sequence(path: Path) -> None:
    body = path.read_bytes()
    final, events = anthropic_wire.stream_from_body(body)
    assert final == anthropic_wire.decode_message(body)
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    ends = formats.messages().end_types
    assert type(events[-1]) in ends and not any(type(e) in ends for e in events[:-1])
    acc = MessageAccumulator()
    for e in events:
        acc.add(e)
    assert acc.result() == final  # the stream folds back to exactly the body
    text = "".join(t for e in events if (t := anthropic_wire.text_delta(e)) is not None)
    assert text == "".join(b.text for b in final.content if isinstance(b, a.TextBlock))


@pytest.mark.parametrize("path", payloads("responses_response"), ids=lambda p: p.stem)
def test_response_body_is_text_deltas_and_the_terminal_event(path: Path) -> None:
    body = path.read_bytes()
    final, events = responses_wire.stream_from_body(body)
    assert final == responses_wire.decode_response(body)
    assert type(events[-1]) in formats.responses().end_types
    acc = ResponseAccumulator()
    for e in events:
        acc.add(e)
    assert acc.result() == final
    deltas = [t for e in events if (t := responses_wire.text_delta(e)) is not None]
    assert "".join(deltas) == final.output_text


def test_an_incomplete_response_ends_with_response_incomplete() -> None:
    body = (PAYLOADS / "responses_response_incomplete.json").read_bytes()
    _, events = responses_wire.stream_from_body(body)
    assert events[-1].type == "response.incomplete"


@pytest.mark.parametrize(
    "convert,body,error",
    [
        (
            chat_wire.stream_from_body,
            {"error": {"message": "slow down", "type": "rate_limit_error", "code": None}},
            rawllm.RateLimitError,
        ),
        (
            anthropic_wire.stream_from_body,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            rawllm.OverloadedError,
        ),
        (
            responses_wire.stream_from_body,
            {"error": {"code": "server_error", "message": "boom"}},
            rawllm.InternalServerError,
        ),
        (
            responses_wire.stream_from_body,
            {"id": "r", "status": "failed", "output": [], "error": {"code": "rate_limit_exceeded"}},
            rawllm.RateLimitError,
        ),
    ],
)
def test_an_error_body_with_a_2xx_status_raises_its_typed_error(
    convert: Any, body: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        convert(json.dumps(body).encode())


@pytest.mark.parametrize(
    "convert",
    [chat_wire.stream_from_body, anthropic_wire.stream_from_body, responses_wire.stream_from_body],
)
@pytest.mark.parametrize("body", [b"<html>ok</html>", b"[]", b'{"unrelated": 1}'])
def test_a_body_that_is_no_answer_is_a_validation_error(convert: Any, body: bytes) -> None:
    with pytest.raises(rawllm.APIResponseValidationError):
        convert(body)
