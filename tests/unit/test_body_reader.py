"""BodyReader: a whole JSON body answering a stream request is read as that stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rawllm
from rawllm._body_reader import BodyReader, is_json
from rawllm._wire import anthropic as anthropic_wire
from rawllm._wire import openai as chat_wire
from rawllm._wire import responses as responses_wire
from rawllm._wire.openai import Done

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/event-stream", False),
        ("text/event-stream; charset=utf-8", False),
        ("text/html", False),
        ("", False),
        (None, False),
    ],
)
def test_is_json(value: str | None, expected: bool) -> None:
    assert is_json(value) is expected


def feed_all(reader: BodyReader, body: bytes, piece: int = 5) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(0, len(body), piece):
        out += reader.feed(body[i : i + piece])
    return out + reader.eof()


def test_chat_body_yields_one_chunk_and_final_is_the_body() -> None:
    body = (PAYLOADS / "openai_chat_completion.json").read_bytes()
    reader: BodyReader = BodyReader(None, chat_wire.stream_from_body, {Done})  # type: ignore[type-arg]
    assert not reader.done
    with pytest.raises(rawllm.APIConnectionError):
        reader.final()
    items = feed_all(reader, body)
    assert reader.done and len(items) == 1 and reader.items == items
    assert reader.final() == chat_wire.decode_chat_completion(body)
    assert reader.feed(b"more") == [] and reader.eof() == []  # after the end: nothing


def test_anthropic_body_yields_the_events_up_to_message_stop() -> None:
    body = (PAYLOADS / "anthropic_message_tool_use.json").read_bytes()
    reader: BodyReader = BodyReader(None, anthropic_wire.stream_from_body)  # type: ignore[type-arg]
    items = feed_all(reader, body)
    assert items[0].type == "message_start" and items[-1].type == "message_stop"
    assert reader.final() == anthropic_wire.decode_message(body)


def test_responses_body_yields_response_completed() -> None:
    body = (PAYLOADS / "responses_response_message.json").read_bytes()
    reader: BodyReader = BodyReader(None, responses_wire.stream_from_body)  # type: ignore[type-arg]
    items = feed_all(reader, body)
    assert items[-1].type == "response.completed"
    assert reader.final() == responses_wire.decode_response(body)


def test_an_error_body_raises_and_keeps_raising() -> None:
    body = json.dumps({"error": {"type": "invalid_request_error", "message": "bad"}}).encode()
    reader: BodyReader = BodyReader(None, chat_wire.stream_from_body, {Done})  # type: ignore[type-arg]
    with pytest.raises(rawllm.BadRequestError):
        feed_all(reader, body)
    assert reader.failed
    with pytest.raises(rawllm.BadRequestError):
        reader.eof()
    with pytest.raises(rawllm.BadRequestError):
        reader.feed(b"x")


def test_a_body_past_max_bytes_is_refused_and_not_kept() -> None:
    body = (PAYLOADS / "openai_chat_completion.json").read_bytes()
    reader: BodyReader = BodyReader(None, chat_wire.stream_from_body, {Done}, max_bytes=100)  # type: ignore[type-arg]
    with pytest.raises(rawllm.APIResponseValidationError, match="max_response_bytes=100"):
        feed_all(reader, body, piece=64)
    assert reader.failed and not reader.done
    with pytest.raises(rawllm.APIResponseValidationError):
        reader.eof()
