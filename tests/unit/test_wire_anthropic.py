"""Anthropic stream events: every event and delta type, unknown types skipped, in-stream errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawllm
from rawllm import _formats as formats
from rawllm._wire import anthropic as wire
from rawllm.sse import ServerSentEvent, SSEDecoder
from rawllm.types import anthropic as t

PAYLOADS = Path(__file__).parent / "payloads"
STREAMS = [
    "anthropic_stream_tool_use.json",
    "anthropic_stream_thinking.json",
    "anthropic_stream_server_tools.json",
]


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text("utf-8"))


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    out = []
    for e in events:
        out.append(f"event: {e['event']}\ndata: {json.dumps(e['data'], ensure_ascii=False)}\n\n")
    return "".join(out).encode()


def decode_all(body: bytes, chunks: list[bytes] | None = None) -> list[Any]:
    decoder = SSEDecoder()
    sse: list[ServerSentEvent] = []
    for chunk in chunks if chunks is not None else [body]:
        sse += decoder.feed(chunk)
    sse += decoder.close()
    return [e for e in (wire.decode_event(s) for s in sse) if e is not None]


def ev(name: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=data if isinstance(data, str) else json.dumps(data))


# -- requests -----------------------------------------------------------------------------


def test_encode_is_compact_json() -> None:
    params = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "héllo"}],
        "stream": True,
    }
    out = wire.encode(params)
    assert isinstance(out, bytes)
    assert json.loads(out) == params
    assert b" " not in out.replace(b"\xc3\xa9llo", b"")


def test_encode_passes_a_message_back_as_the_api_expects() -> None:
    block = t.ToolUseBlock(id="toolu_1", name="f", input={"x": 1})
    out = json.loads(wire.encode({"messages": [{"role": "assistant", "content": [block]}]}))
    assert out["messages"][0]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "f",
        "input": {"x": 1},
    }


# -- every event type ---------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_streams_decode_to_typed_events(name: str) -> None:
    payload = load(name)
    events = decode_all(sse_bytes(payload["events"]))

    # pings and unknown event types are skipped, nothing else (unknown deltas are kept)
    def kept(e: dict[str, Any]) -> bool:
        return bool(e["data"]["type"] in wire._EVENT_TYPES)

    expected = [e["data"]["type"] for e in payload["events"] if kept(e)]
    assert [e.type for e in events] == expected
    for e in events:
        assert isinstance(e, typing_union_members()), e
    assert events[0].type == "message_start" and ends(events[-1])
    assert not any(ends(e) for e in events[:-1])


def typing_union_members() -> tuple[type, ...]:
    import typing

    return typing.get_args(t.MessageStreamEvent)


def test_every_event_and_delta_type_is_covered_by_the_payloads() -> None:
    seen_events: set[str] = set()
    seen_deltas: set[str] = set()
    seen_blocks: set[str] = set()
    for name in STREAMS:
        for e in decode_all(sse_bytes(load(name)["events"])):
            seen_events.add(e.type)
            if isinstance(e, t.RawContentBlockDeltaEvent) and e.delta.type in wire._DELTA_TYPES:
                seen_deltas.add(e.delta.type)
            if isinstance(e, t.RawContentBlockStartEvent):
                seen_blocks.add(e.content_block.type)
    assert seen_events == set(wire._EVENT_TYPES)
    assert seen_deltas == set(wire._DELTA_TYPES)
    assert {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use"} <= seen_blocks
    assert {"web_search_tool_result", "mcp_tool_use"} <= seen_blocks


def test_event_fields() -> None:
    start = wire.decode_event(ev("message_start", load(STREAMS[0])["events"][0]["data"]))
    assert isinstance(start, t.RawMessageStartEvent)
    assert start.message.id == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert start.message.content == [] and start.message.stop_reason is None
    assert start.message.usage.input_tokens == 472
    block = wire.decode_event(
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
            },
        )
    )
    assert isinstance(block, t.RawContentBlockStartEvent)
    assert block.index == 1 and isinstance(block.content_block, t.ToolUseBlock)
    delta = wire.decode_event(
        ev(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a'},
            },
        )
    )
    assert isinstance(delta, t.RawContentBlockDeltaEvent)
    assert isinstance(delta.delta, t.InputJSONDelta) and delta.delta.partial_json == '{"a'
    assert delta.delta.type == "input_json_delta"
    stop = wire.decode_event(ev("content_block_stop", {"type": "content_block_stop", "index": 1}))
    assert isinstance(stop, t.RawContentBlockStopEvent) and stop.index == 1
    md = wire.decode_event(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                "usage": {"output_tokens": 15, "cache_read_input_tokens": 7},
            },
        )
    )
    assert isinstance(md, t.RawMessageDeltaEvent)
    assert md.delta.stop_reason == "max_tokens"
    assert (md.usage.output_tokens, md.usage.cache_read_input_tokens, md.usage.input_tokens) == (
        15,
        7,
        None,
    )
    assert isinstance(
        wire.decode_event(ev("message_stop", {"type": "message_stop"})), t.RawMessageStopEvent
    )


def test_event_line_is_not_needed() -> None:
    """Proxies that drop the ``event:`` line still work: the data's type decides."""
    data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    out = wire.decode_event(ServerSentEvent(data=json.dumps(data)))
    assert isinstance(out, t.RawContentBlockDeltaEvent) and out.delta.text == "x"  # type: ignore[union-attr]
    assert wire.decode_event(ServerSentEvent(data='{"type": "ping"}')) is None


# -- skipping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sse",
    [
        ev("ping", {"type": "ping"}),
        ev("ping", ""),  # nothing is decoded for a ping
        ev("message", {"type": "ping"}),
        ev("content_block_annotation", {"type": "content_block_annotation", "index": 0}),
        ev("message", {"type": "brand_new_event", "payload": [1, 2, 3]}),
    ],
    ids=["ping", "ping-empty", "ping-no-event-line", "unknown", "unknown-bare"],
)
def test_skipped(sse: ServerSentEvent) -> None:
    assert wire.decode_event(sse) is None


def test_unknown_block_in_content_block_start_is_kept_at_its_index() -> None:
    out = wire.decode_event(
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 3,
                "content_block": {"type": "mcp_tool_use", "id": "m1", "name": "echo", "input": {}},
            },
        )
    )
    assert isinstance(out, t.RawContentBlockStartEvent) and out.index == 3
    block = out.content_block
    assert isinstance(block, t.UnknownContentBlock)
    assert block.type == "mcp_tool_use" and block.data["name"] == "echo"


def test_unknown_block_inside_message_start() -> None:
    data = load(STREAMS[0])["events"][0]["data"]
    data["message"]["content"] = [{"type": "text", "text": "pre"}, {"type": "new_kind", "v": 1}]
    out = wire.decode_event(ev("message_start", data))
    assert isinstance(out, t.RawMessageStartEvent)
    assert isinstance(out.message.content[0], t.TextBlock)
    unknown = out.message.content[1]
    assert isinstance(unknown, t.UnknownContentBlock)
    assert unknown == {"type": "new_kind", "v": 1} and unknown.type == "new_kind"


def test_known_events_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """One decode, no generic re-parse, for every event a normal stream has."""

    def boom(data: str) -> None:
        raise AssertionError(f"slow path taken for {data}")

    monkeypatch.setattr(wire, "_decode_event_slow", boom)
    events = [e for e in load(STREAMS[1])["events"]]
    assert len(decode_all(sse_bytes(events))) == len(events)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err_type", "cls", "status"),
    [
        ("overloaded_error", rawllm.OverloadedError, 529),
        ("rate_limit_error", rawllm.RateLimitError, 429),
        ("invalid_request_error", rawllm.BadRequestError, 400),
        ("authentication_error", rawllm.AuthenticationError, 401),
        ("permission_error", rawllm.PermissionDeniedError, 403),
        ("not_found_error", rawllm.NotFoundError, 404),
        ("request_too_large", rawllm.RequestTooLargeError, 413),
        ("api_error", rawllm.InternalServerError, 500),
        ("timeout_error", rawllm.InternalServerError, 504),
        ("some_new_error", rawllm.InternalServerError, 500),
    ],
)
def test_error_event_raises_the_class_its_type_names(
    err_type: str, cls: type[rawllm.APIStatusError], status: int
) -> None:
    data = {"type": "error", "error": {"type": err_type, "message": "Something failed"}}
    for sse in (ev("error", data), ev("message", data)):  # with and without the event line
        with pytest.raises(rawllm.APIStatusError) as info:
            wire.decode_event(sse)
        assert type(info.value) is cls
        assert info.value.status_code == status
        assert info.value.body == data
        assert "Something failed" in str(info.value)


def test_error_event_from_the_payload_stream_stops_decoding() -> None:
    payload = load("anthropic_stream_overloaded.json")
    with pytest.raises(rawllm.OverloadedError) as info:
        decode_all(sse_bytes(payload["events"]))
    assert info.value.body["request_id"] == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert info.value.type == "overloaded_error"


def test_error_event_whose_data_is_not_json() -> None:
    with pytest.raises(rawllm.APIStatusError) as info:
        wire.decode_event(ServerSentEvent(event="error", data="upstream connect error"))
    assert isinstance(info.value, rawllm.InternalServerError)
    assert "upstream connect error" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "",
        '{"type": "content_block_delta", "index": 0, "delta": ',
        "[1, 2]",
        '"message_stop"',
        '{"type": "content_block_delta", "index": "zero", '
        '"delta": {"type": "text_delta", "text": "x"}}',
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}',
        '{"type": "content_block_delta", "index": 0}',
        '{"type": "message_start", "message": {"id": "m"}}',
    ],
)
def test_invalid_events_raise_validation_error_with_the_text(data: str) -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        wire.decode_event(ServerSentEvent(event="content_block_delta", data=data))
    assert info.value.body == data


# -- any chunking gives the same events ---------------------------------------------------


def _normalise(events: list[Any]) -> list[Any]:
    return [msgspec.to_builtins(e) for e in events]


@pytest.mark.parametrize("name", STREAMS)
def test_any_chunking_gives_the_same_events(name: str) -> None:
    body = sse_bytes(load(name)["events"])
    whole = _normalise(decode_all(body))
    by_byte = _normalise(decode_all(body, [body[i : i + 1] for i in range(len(body))]))
    assert by_byte == whole
    rng = random.Random(name)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), 12))
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        assert _normalise(decode_all(body, chunks)) == whole


# -- helpers ------------------------------------------------------------------------------


def ends(event: object) -> bool:
    """The Messages format's end rule (applied by StreamReader)."""
    return type(event) in formats.messages().end_types


def test_only_message_stop_ends_the_stream() -> None:
    assert ends(t.RawMessageStopEvent())
    assert not ends(t.RawContentBlockStopEvent(index=0))
    assert not ends(None)


def test_text_delta() -> None:
    events = decode_all(sse_bytes(load("anthropic_stream_thinking.json")["events"]))
    texts = [x for e in events if (x := wire.text_delta(e)) is not None]
    assert texts == ["The GCD is ", "21."]
    assert wire.text_delta(None) is None


def test_an_unknown_delta_type_is_yielded_as_sent() -> None:
    data = {"type": "content_block_delta", "index": 0, "delta": {"type": "future_delta", "x": 1}}
    event = wire.decode_event(ev("content_block_delta", data))
    assert isinstance(event, t.RawContentBlockDeltaEvent) and event.index == 0
    assert isinstance(event.delta, t.UnknownDelta)
    assert event.delta == {"type": "future_delta", "x": 1} and event.delta.type == "future_delta"
    assert wire.text_delta(event) is None


def test_a_block_start_of_an_unexpected_shape_keeps_the_block_as_sent() -> None:
    data = '{"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}}'
    event = wire.decode_event(ServerSentEvent(event="content_block_start", data=data))
    assert isinstance(event, t.RawContentBlockStartEvent)
    assert isinstance(event.content_block, t.UnknownContentBlock)
    assert event.content_block == {"type": "tool_use"}
