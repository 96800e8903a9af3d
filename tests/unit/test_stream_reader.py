"""StreamReader without sockets: every recorded stream fed whole, byte by byte and split anywhere.

The reader is the one holder of the end-of-stream rule, in-band error ordering
and truncation, so it is tested the way h11 tests its readers: the same bytes
in different pieces must give the same items, the same end and the same
error; a body cut anywhere before its end must raise at ``eof()``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest
from _stream_payloads import STREAMS, events, sse_body, wire_format

from rawllm import _formats
from rawllm._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    OverloadedError,
)
from rawllm._reader import StreamReader
from rawllm._wire._common import Done
from rawllm.sse import ServerSentEvent
from rawllm.testing import _render_anthropic, _render_chat, _render_responses
from rawllm.testing._planning import plan_reply

Outcome = tuple[list[bytes], type[APIError] | None, bool]


def run(name_or_fmt: Any, pieces: list[bytes]) -> tuple[list[Any], APIError | None, bool]:
    """Feed ``pieces`` then end the body: (items handed out, error raised, complete)."""
    fmt = wire_format(name_or_fmt) if isinstance(name_or_fmt, str) else name_or_fmt
    reader: StreamReader[Any, Any] = StreamReader(fmt)
    items: list[Any] = []
    try:
        for piece in pieces:
            items += reader.feed(piece)
        items += reader.eof()
        items += reader.eof()  # a pending error is raised by the next call
    except APIError as exc:
        return items, exc, reader.done
    return items, None, reader.done


def key(items: list[Any]) -> list[bytes]:
    return [msgspec.json.encode(item) for item in items]


def outcome(name: str, pieces: list[bytes]) -> Outcome:
    items, error, done = run(name, pieces)
    return key(items), type(error) if error is not None else None, done


def oracle(name: str) -> tuple[list[bytes], type[APIError] | None]:
    """Each recorded event decoded on its own with the format's decoder, up to the end."""
    fmt = wire_format(name)
    out: list[Any] = []
    for event in events(name):
        if isinstance(event, dict) and set(event) == {"event", "data"}:
            sse = ServerSentEvent(
                event=event["event"], data=msgspec.json.encode(event["data"]).decode()
            )
        else:
            data = event if isinstance(event, str) else msgspec.json.encode(event).decode()
            sse = ServerSentEvent(data=data)
        try:
            item = fmt.decode_event(sse)
        except APIError as exc:
            return key(out), type(exc)
        if item is None:
            continue
        if not isinstance(item, Done):
            out.append(item)
        if type(item) in fmt.end_types:
            return key(out), None
    return key(out), APIConnectionError


@pytest.mark.parametrize("name", STREAMS)
def test_whole_body_gives_each_event_decoded_on_its_own(name: str) -> None:
    items, error, done = outcome(name, [sse_body(name)])
    want_items, want_error = oracle(name)
    assert items == want_items and items
    assert error is want_error
    assert done is (want_error is None)


@pytest.mark.parametrize("name", STREAMS)
def test_byte_by_byte_and_every_split_point_give_the_same(name: str) -> None:
    body = sse_body(name)
    whole = outcome(name, [body])
    assert outcome(name, [body[i : i + 1] for i in range(len(body))]) == whole
    for i in range(len(body) + 1):
        assert outcome(name, [body[:i], body[i:]]) == whole, i


@pytest.mark.parametrize("name", [n for n in STREAMS if oracle(n)[1] is None])
def test_a_cut_anywhere_before_the_end_raises_at_eof(name: str) -> None:
    # The end is the last event, complete only with its blank line (at end of
    # input an undispatched block is discarded, as the SSE spec says).
    body = sse_body(name)
    for cut in range(len(body)):
        items, error, done = run(name, [body[:cut]])
        assert isinstance(error, APIConnectionError) and not done, cut
        assert "incomplete" in error.message and f"{len(items)} item" in error.message
    items, error, done = run(name, [body])
    assert error is None and done


def test_truncation_hands_out_the_last_items_then_says_what_was_received() -> None:
    body = sse_body("openai_stream_n2.json")
    cut = body[: body.rindex(b"data: [DONE]")]
    reader = StreamReader(_formats.CHAT)
    items = reader.feed(cut)
    assert len(items) == 6 and not reader.done
    with pytest.raises(APIConnectionError) as info:
        reader.eof()
    assert "data: [DONE]" in info.value.message
    assert f"6 items in {len(cut)} bytes" in info.value.message
    assert "ChatCompletionChunk" in info.value.message
    with pytest.raises(APIConnectionError, match="Stream not complete"):
        reader.final()


# -- in-band errors: the items before come first ------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("openai_stream_openrouter_error.json", APIStatusError),
        ("anthropic_stream_overloaded.json", OverloadedError),
        ("responses_stream_error.json", APIStatusError),
        ("responses_stream_failed.json", APIStatusError),
    ],
)
def test_items_before_an_in_band_error_come_first(name: str, error: type[APIError]) -> None:
    reader: StreamReader[Any, Any] = StreamReader(wire_format(name))
    items = reader.feed(sse_body(name))
    assert items and reader.failed and not reader.done
    with pytest.raises(error):
        reader.feed(b"")
    with pytest.raises(error):  # and on every call after: the stream is over
        reader.eof()


def test_an_error_with_nothing_before_it_raises_at_once() -> None:
    reader = StreamReader(_formats.CHAT)
    with pytest.raises(APIStatusError, match="boom"):
        reader.feed(b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n')


def test_garbage_is_a_validation_error() -> None:
    reader = StreamReader(_formats.CHAT)
    with pytest.raises(APIResponseValidationError):
        reader.feed(b"data: {not json\n\n")


# -- data bytes: the reader decodes them straight to JSON ----------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "text_of"),
    [
        (
            "openai_",
            b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xc3\xa9 \xff!"}}]}\n\n'
            b"data: [DONE]\n\n",
            lambda item: item.choices[0].delta.content,
        ),
        (
            "anthropic_",
            b"event: content_block_delta\ndata: "
            b'{"type": "content_block_delta", "index": 0,'
            b' "delta": {"type": "text_delta", "text": "caf\xc3\xa9 \xff!"}}\n\n',
            lambda item: item.delta.text,
        ),
        (
            "responses_",
            b"event: response.output_text.delta\ndata: "
            b'{"type": "response.output_text.delta", "item_id": "m", "output_index": 0,'
            b' "content_index": 0, "delta": "caf\xc3\xa9 \xff!"}\n\n',
            lambda item: item.delta,
        ),
    ],
)
def test_invalid_utf8_in_data_is_replaced_as_the_sse_spec_says(
    name: str, body: bytes, text_of: Any
) -> None:
    """Raw data bytes with an invalid byte read as U+FFFD, as ``SSEDecoder`` text would."""
    items = StreamReader(wire_format(name)).feed(body)
    assert [text_of(item) for item in items] == ["caf\u00e9 \ufffd!"]


@pytest.mark.parametrize("name", ["anthropic_", "responses_"])
def test_an_error_event_with_invalid_utf8_raises_its_text(name: str) -> None:
    reader: StreamReader[Any, Any] = StreamReader(wire_format(name))
    with pytest.raises(APIStatusError, match="over\ufffdloaded"):
        reader.feed(b"event: error\ndata: over\xffloaded\n\n")


# -- the per-chunk decoders (WireFormat.decode_batch) ------------------------------------------


def _outcome_with(fmt: Any, pieces: list[bytes]) -> tuple[list[bytes], str | None, bool]:
    items, error, done = run(fmt, pieces)
    return key(items), None if error is None else f"{type(error).__name__}: {error}", done


@pytest.mark.parametrize("name", STREAMS)
def test_the_per_chunk_decoder_gives_what_one_call_per_event_gives(name: str) -> None:
    """decode_batch (no Python call per event) == the format's per-event decoder, any split."""
    fmt = wire_format(name)
    assert fmt.decode_batch is not None
    per_event = dataclasses.replace(fmt, decode_batch=None)
    body = sse_body(name)
    for cut in range(0, len(body) + 1, max(1, len(body) // 40)):
        pieces = [body[:cut], body[cut:]]
        assert _outcome_with(fmt, pieces) == _outcome_with(per_event, pieces), cut


@pytest.mark.parametrize(
    "payload",
    [
        # older vLLM: a flat error object, no choices
        b'{"object": "error", "message": "model crashed", "type": "InternalServerError",'
        b' "code": 500}',
        # OpenRouter: an error inside a chunk-shaped object
        b'{"id": "gen-1", "object": "chat.completion.chunk", "choices": [],'
        b' "error": {"message": "model crashed", "code": 502}}',
    ],
)
def test_chat_error_objects_raise_after_the_items_before_them(payload: bytes) -> None:
    reader = StreamReader(_formats.CHAT)
    items = reader.feed(
        b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\ndata: '
        + payload
        + b"\n\n"
    )
    assert [item.choices[0].delta.content for item in items] == ["a"]
    with pytest.raises(APIStatusError, match="model crashed"):
        reader.eof()


# -- the end rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["anthropic_stream_thinking.json", "openai_stream_n2.json"])
def test_nothing_after_the_end_is_read(name: str) -> None:
    body = sse_body(name)
    reader: StreamReader[Any, Any] = StreamReader(wire_format(name))
    items = reader.feed(body + b'data: {"error": {"message": "late"}}\n\ndata: garbage\n\n')
    assert reader.done and key(items) == oracle(name)[0]
    assert reader.feed(b"data: {}\n\ndata: garbage\n\n") == [] and reader.eof() == []
    assert len(reader.items) == len(items)


def test_done_is_not_an_item_but_message_stop_is() -> None:
    chat = StreamReader(_formats.CHAT)
    assert chat.feed(b"data: [DONE]\n\n") == [] and chat.done
    messages = StreamReader(_formats.messages())
    items = messages.feed(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert [type(i).__name__ for i in items] == ["RawMessageStopEvent"] and messages.done


def test_response_incomplete_ends_the_stream_as_a_whole_answer() -> None:
    items, error, done = run(
        "responses_stream_incomplete.json", [sse_body("responses_stream_incomplete.json")]
    )
    assert error is None and done and items[-1].type == "response.incomplete"


# -- final(): the same answer as the non-stream call ------------------------------------------


def final_of(name: str) -> Any:
    reader: StreamReader[Any, Any] = StreamReader(wire_format(name))
    reader.feed(sse_body(name))
    assert reader.eof() == []
    return reader.final()


def test_final_is_folded_once() -> None:
    reader = StreamReader(_formats.CHAT)
    reader.feed(sse_body("openai_stream_tool_calls.json"))
    assert reader.final() is reader.final()


def _chat(stream: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": stream,
        **extra,
    }


WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
}

CHAT_BODIES = [
    _chat(True),
    _chat(True, stream_options={"include_usage": True}, n=2),
    _chat(True, logprobs=True, top_logprobs=2, max_tokens=5),
    {
        "model": "m",
        "messages": [{"role": "user", "content": "call get_weather please"}],
        "tools": [WEATHER_TOOL],
        "stream": True,
    },
]


def _normal_chat(completion: Any) -> dict[str, Any]:
    """A ChatCompletion without what OpenAI sends only outside streams (``annotations: []``)."""
    out: dict[str, Any] = msgspec.to_builtins(completion)
    out.pop("usage", None)  # compared separately: a stream has it only with include_usage
    for choice in out["choices"]:
        if choice["message"].get("annotations") == []:
            del choice["message"]["annotations"]
        if choice.get("logprobs") == {"content": []}:  # a tool call's (no content tokens)
            choice.pop("logprobs")
    return out


@pytest.mark.parametrize("body", CHAT_BODIES)
def test_chat_final_equals_the_non_stream_answer(body: dict[str, Any]) -> None:
    reply = plan_reply(body, "chat")
    frames = _render_chat.chat_frames("r1", 1700000000, "m", reply, body)
    whole = _formats.CHAT.decode(_render_chat.chat_body("r1", 1700000000, "m", reply, body))
    final = run_frames(_formats.CHAT, frames)
    assert _normal_chat(final) == _normal_chat(whole)
    if body.get("stream_options"):
        assert final.usage == whole.usage


MESSAGES_BODIES = [
    {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hello there"}]},
    {"model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": "hello there"}]},
    {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "use get_weather"}],
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    },
]


@pytest.mark.parametrize("body", MESSAGES_BODIES)
def test_messages_final_equals_the_non_stream_answer(body: dict[str, Any]) -> None:
    reply = plan_reply(body, "messages")
    fmt = _formats.messages()
    final = run_frames(fmt, _render_anthropic.messages_frames("r1", "m", reply))
    assert final == fmt.decode(_render_anthropic.messages_body("r1", "m", reply))


RESPONSES_BODIES = [
    {"model": "m", "input": "hello there"},
    {"model": "m", "input": "hello there", "max_output_tokens": 3},
    {
        "model": "m",
        "input": "call get_weather",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {}}],
    },
]


@pytest.mark.parametrize("body", RESPONSES_BODIES)
def test_responses_final_equals_the_non_stream_answer(body: dict[str, Any]) -> None:
    reply = plan_reply(body, "responses")
    fmt = _formats.responses()
    frames = _render_responses.responses_frames("r1", 1700000000, "m", reply, body)
    final = run_frames(fmt, frames)
    assert final == fmt.decode(_render_responses.responses_body("r1", 1700000000, "m", reply, body))


def run_frames(fmt: Any, frames: list[bytes]) -> Any:
    """Feed a rendered stream one frame at a time, split mid-frame too; return final()."""
    body = b"".join(frames)
    items, error, done = run(fmt, [body[i : i + 7] for i in range(0, len(body), 7)])
    assert error is None and done and items
    reader: StreamReader[Any, Any] = StreamReader(fmt)
    for frame in frames:
        reader.feed(frame)
    reader.eof()
    return reader.final()
