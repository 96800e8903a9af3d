"""MessageAccumulator: streamed events -> the Message the non-streaming call returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _stream_payloads import sse_body
from hypothesis import given, settings
from hypothesis import strategies as st

import rawllm
from rawllm._accumulate_events import MessageAccumulator
from rawllm._formats import messages
from rawllm._reader import StreamReader
from rawllm._wire import anthropic as wire
from rawllm.sse import ServerSentEvent
from rawllm.types import anthropic as t

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text("utf-8"))


def decode(events: list[dict[str, Any]]) -> list[Any]:
    out = []
    for e in events:
        item = wire.decode_event(ServerSentEvent(event=e["event"], data=json.dumps(e["data"])))
        if item is not None:
            out.append(item)
    return out


def accumulate(events: list[Any]) -> MessageAccumulator:
    acc = MessageAccumulator()
    for e in events:
        acc.add(e)
    return acc


def start(**usage: Any) -> t.RawMessageStartEvent:
    u: dict[str, Any] = {"input_tokens": 10, "output_tokens": 1, **usage}
    return t.RawMessageStartEvent(
        message=t.Message(id="msg_1", content=[], model="claude", usage=t.Usage(**u))
    )


def block_start(index: int, block: Any) -> t.RawContentBlockStartEvent:
    return t.RawContentBlockStartEvent(index=index, content_block=block)


def delta(index: int, d: Any) -> t.RawContentBlockDeltaEvent:
    return t.RawContentBlockDeltaEvent(index=index, delta=d)


def message_delta(stop_reason: str | None = "end_turn", **usage: Any) -> t.RawMessageDeltaEvent:
    return t.RawMessageDeltaEvent(
        delta=t.MessageDelta(stop_reason=stop_reason),
        usage=t.MessageDeltaUsage(**{"output_tokens": 5, **usage}),
    )


STOP = t.RawMessageStopEvent()


# -- the payload streams ------------------------------------------------------------------


def test_text_and_tool_use_stream() -> None:
    payload = load("anthropic_stream_tool_use.json")
    acc = accumulate(decode(payload["events"]))
    msg = acc.result()
    assert isinstance(msg, t.Message)
    assert msg.id == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use", "tool_use"]
    text = msg.content[0]
    assert isinstance(text, t.TextBlock)
    assert text.text == "Okay, let's check the weather ☀️ for San Francisco, CA:"
    inputs = [b.input for b in msg.content[1:] if isinstance(b, t.ToolUseBlock)]
    assert inputs == payload["expected_inputs"]
    assert inputs[0]["note"] == 'café ☕ "quoted" back\\slash \U0001f600'
    assert inputs[1] == {"q": 'café \U0001f600 "x"\n'}
    assert inputs[2] == {}  # no input_json_delta at all
    assert msg.stop_reason == "tool_use" and msg.stop_sequence is None
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (472, 89)
    assert msg.usage.cache_read_input_tokens == 0


def test_thinking_signature_redacted_and_citations() -> None:
    payload = load("anthropic_stream_thinking.json")
    msg = accumulate(decode(payload["events"])).result()
    thinking, redacted, text = msg.content
    assert isinstance(thinking, t.ThinkingBlock)
    assert thinking.thinking == payload["expected_thinking"]
    assert thinking.signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
    assert isinstance(redacted, t.RedactedThinkingBlock)
    assert redacted.data == "EmwKAhgBEgy3va3pzix/LafPsn4a..."
    assert isinstance(text, t.TextBlock)
    assert text.text == "The GCD is 21."
    assert text.citations is not None
    assert [(c.type, c.cited_text) for c in text.citations] == [
        ("char_location", "GCD(1071, 462) = 21"),
        ("page_location", "21"),
    ]
    assert text.citations[0].start_char_index == 10
    assert msg.usage.output_tokens == 340
    assert msg.usage.cache_read_input_tokens == 2000  # from message_start, kept


def test_server_tools_unknown_block_and_usage_from_message_delta() -> None:
    msg = accumulate(decode(load("anthropic_stream_server_tools.json")["events"])).result()
    assert [b.type for b in msg.content] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "mcp_tool_use",
        "text",
    ]
    call = msg.content[1]
    assert isinstance(call, t.ServerToolUseBlock)
    assert call.input == {"query": "weather NYC today"}
    result = msg.content[2]
    assert isinstance(result, t.WebSearchToolResultBlock) and isinstance(result.content, list)
    assert result.content[0].title == "Weather in New York City in May 2025"
    unknown = msg.content[3]
    assert isinstance(unknown, t.UnknownContentBlock)
    # As the non-streamed message shows it: the input_json_delta pieces make its input.
    assert unknown == {
        "type": "mcp_tool_use",
        "id": "mcptoolu_01",
        "name": "echo",
        "server_name": "ex",
        "input": {"a": 1},
    }
    last = msg.content[4]
    assert isinstance(last, t.TextBlock) and last.text == "It's 68°F."
    u = msg.usage
    assert (u.input_tokens, u.output_tokens) == (10682, 510)  # message_delta replaces
    assert u.server_tool_use == t.ServerToolUsage(web_search_requests=1)


def test_unknown_blocks_fold_in_every_delta_as_the_non_streamed_block_shows_it() -> None:
    u = t.UnknownContentBlock
    events = [
        start(),
        block_start(0, u({"type": "mcp_tool_use", "id": "m1", "name": "f", "input": {}})),
        delta(0, t.InputJSONDelta(partial_json='{"q": "caf')),
        delta(0, t.InputJSONDelta(partial_json='\u00e9"}')),
        block_start(1, u({"type": "new_text", "text": "a", "citations": [{"n": 0}]})),
        delta(1, t.TextDelta(text="b")),
        delta(1, t.CitationsDelta(citation=t.TextCitation(type="x", cited_text="c"))),
        delta(1, t.TextDelta(text="c")),
        block_start(2, u({"type": "new_thinking", "thinking": "", "signature": ""})),
        delta(2, t.ThinkingDelta(thinking="hm")),
        delta(2, t.ThinkingDelta(thinking="m")),
        delta(2, t.SignatureDelta(signature="sig")),
        block_start(3, u({"type": "new_kind"})),
        delta(3, t.UnknownDelta({"type": "new_delta", "body": "x", "n": 1})),
        delta(3, t.UnknownDelta({"type": "new_delta", "body": "y", "n": 2})),
        block_start(4, t.TextBlock(text="")),
        delta(4, t.UnknownDelta({"type": "new_delta", "body": "z"})),  # a known block: ignored
        delta(4, t.TextDelta(text="done")),
        message_delta(),
        t.RawMessageStopEvent(),
    ]
    content = accumulate(events).result().content
    assert content[0] == {"type": "mcp_tool_use", "id": "m1", "name": "f", "input": {"q": "café"}}
    assert content[1] == {
        "type": "new_text",
        "text": "abc",
        "citations": [{"n": 0}, {"type": "x", "cited_text": "c"}],
    }
    assert content[2] == {"type": "new_thinking", "thinking": "hmm", "signature": "sig"}
    assert content[3] == {"type": "new_kind", "body": "xy", "n": 2}
    assert all(isinstance(b, t.UnknownContentBlock) for b in content[:4])
    assert content[4] == t.TextBlock(text="done")


def test_an_unknown_block_with_broken_input_json_is_refused_like_a_tool_use() -> None:
    events = [
        start(),
        block_start(0, t.UnknownContentBlock({"type": "mcp_tool_use", "id": "m1", "input": {}})),
        delta(0, t.InputJSONDelta(partial_json='{"q": ')),
        message_delta(),
        t.RawMessageStopEvent(),
    ]
    acc = accumulate(events)
    with pytest.raises(rawllm.APIResponseValidationError, match="m1"):
        acc.result()
    snap = acc.snapshot()
    assert snap is not None and snap.content[0] == {"type": "mcp_tool_use", "id": "m1", "input": {}}


def test_stream_and_non_stream_give_the_same_message() -> None:
    """The accumulated message equals the body the non-streaming call would give."""
    payload = load("anthropic_stream_tool_use.json")
    streamed = accumulate(decode(payload["events"])).result()
    start_msg = payload["events"][0]["data"]["message"]
    body = {
        **start_msg,
        "content": msgspec.to_builtins(streamed.content),
        "stop_reason": "tool_use",
        "usage": {**start_msg["usage"], "output_tokens": 89},
    }
    assert wire.decode_message(json.dumps(body)) == streamed


# -- tool input JSON split anywhere -------------------------------------------------------

# JSON as a server sends it: no NaN/Infinity, no lone surrogates (UTF-8 cannot carry them).
TEXT = st.text(st.characters(exclude_categories=["Cs"]))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(TEXT, JSON_VALUES, max_size=5),
    ascii_only=st.booleans(),
    data=st.data(),
)
def test_tool_input_split_at_any_points(value: dict[str, Any], ascii_only: bool, data: Any) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=len(text))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    events: list[Any] = [start(), block_start(0, t.ToolUseBlock(id="toolu_1", name="f", input={}))]
    events += [delta(0, t.InputJSONDelta(partial_json=p)) for p in pieces]
    events += [t.RawContentBlockStopEvent(index=0), message_delta("tool_use"), STOP]
    block = accumulate(events).result().content[0]
    assert isinstance(block, t.ToolUseBlock)
    assert block.input == json.loads(text)


def test_tool_input_split_at_every_single_character() -> None:
    text = json.dumps({"s": 'a"b\\c\u00e9\U0001f600\n', "n": [1.5e-3, -0, True, None]})
    for cut in range(len(text) + 1):
        events = [
            start(),
            block_start(0, t.ToolUseBlock(id="t", name="f", input={})),
            delta(0, t.InputJSONDelta(partial_json=text[:cut])),
            delta(0, t.InputJSONDelta(partial_json=text[cut:])),
            STOP,
        ]
        assert accumulate(events).result().content[0].input == json.loads(text)  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ['{"a": 1', '{"a": }', "[1, 2]", '"str"', "{} {}", "nul"])
def test_invalid_joined_tool_input_raises(bad: str) -> None:
    events = [
        start(),
        block_start(0, t.ToolUseBlock(id="toolu_9", name="f", input={})),
        delta(0, t.InputJSONDelta(partial_json=bad[:2])),
        delta(0, t.InputJSONDelta(partial_json=bad[2:])),
        STOP,
    ]
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        accumulate(events).result()
    assert info.value.body == bad
    assert "toolu_9" in str(info.value)


def test_whitespace_only_tool_input_is_an_empty_object() -> None:
    events = [
        start(),
        block_start(0, t.ToolUseBlock(id="t", name="f", input={})),
        delta(0, t.InputJSONDelta(partial_json="")),
        delta(0, t.InputJSONDelta(partial_json="  ")),
        STOP,
    ]
    assert accumulate(events).result().content[0].input == {}  # type: ignore[union-attr]


# -- ordering, merging, mismatches --------------------------------------------------------


def test_blocks_come_out_in_index_order_and_interleaved_deltas_go_to_their_block() -> None:
    events = [
        start(),
        block_start(1, t.TextBlock(text="")),
        block_start(0, t.TextBlock(text="A:")),
        delta(1, t.TextDelta(text="b1")),
        delta(0, t.TextDelta(text="a1")),
        delta(1, t.TextDelta(text="b2")),
        delta(0, t.TextDelta(text="a2")),
        STOP,
    ]
    msg = accumulate(events).result()
    assert [b.text for b in msg.content] == ["A:a1a2", "b1b2"]  # type: ignore[union-attr]


def test_deltas_that_do_not_match_their_block_are_ignored() -> None:
    events = [
        start(),
        block_start(0, t.ToolUseBlock(id="t", name="f", input={})),
        delta(0, t.TextDelta(text="not json")),
        delta(0, t.ThinkingDelta(thinking="nope")),
        delta(0, t.SignatureDelta(signature="nope")),
        delta(0, t.CitationsDelta(citation=t.TextCitation(type="char_location"))),
        delta(0, t.InputJSONDelta(partial_json='{"ok": true}')),
        block_start(1, t.TextBlock(text="")),
        delta(1, t.InputJSONDelta(partial_json="{")),
        delta(1, t.ThinkingDelta(thinking="nope")),
        delta(1, t.TextDelta(text="fine")),
        block_start(2, t.ThinkingBlock(thinking="")),
        delta(2, t.TextDelta(text="nope")),
        delta(2, t.ThinkingDelta(thinking="hmm")),
        STOP,
    ]
    tool, text, thinking = accumulate(events).result().content
    assert tool == t.ToolUseBlock(id="t", name="f", input={"ok": True})
    assert text == t.TextBlock(text="fine")
    assert thinking == t.ThinkingBlock(thinking="hmm", signature="")


def test_delta_for_a_block_that_never_started_is_an_error() -> None:
    acc = MessageAccumulator()
    acc.add(start())
    with pytest.raises(rawllm.APIResponseValidationError, match="index 2"):
        acc.add(delta(2, t.TextDelta(text="x")))


def test_signature_delta_replaces_the_start_signature() -> None:
    events = [
        start(),
        block_start(0, t.ThinkingBlock(thinking="a", signature="old")),
        delta(0, t.ThinkingDelta(thinking="b")),
        delta(0, t.SignatureDelta(signature="new")),
        STOP,
    ]
    assert accumulate(events).result().content[0] == t.ThinkingBlock(thinking="ab", signature="new")


def test_usage_output_tokens_is_cumulative_and_later_message_deltas_win() -> None:
    events = [
        start(input_tokens=100, output_tokens=1, cache_read_input_tokens=50),
        message_delta(None, output_tokens=30),
        message_delta("max_tokens", output_tokens=64, cache_creation_input_tokens=9),
        STOP,
    ]
    msg = accumulate(events).result()
    assert msg.stop_reason == "max_tokens"
    u = msg.usage
    assert (u.input_tokens, u.output_tokens) == (100, 64)  # replaced, not summed
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (50, 9)


def test_a_later_message_delta_without_stop_reason_keeps_the_earlier_one() -> None:
    first = t.RawMessageDeltaEvent(
        delta=t.MessageDelta(stop_reason="stop_sequence", stop_sequence="END"),
        usage=t.MessageDeltaUsage(output_tokens=3),
    )
    events = [start(), first, message_delta(None, output_tokens=4), STOP]
    msg = accumulate(events).result()
    assert (msg.stop_reason, msg.stop_sequence, msg.usage.output_tokens) == (
        "stop_sequence",
        "END",
        4,
    )


def test_container_and_stop_details_from_message_delta() -> None:
    md = t.RawMessageDeltaEvent(
        delta=t.MessageDelta(
            stop_reason="refusal",
            container=t.Container(id="container_1", expires_at="2025-05-23T21:13:31Z"),
            stop_details=t.RefusalStopDetails(category="bio"),
        ),
        usage=t.MessageDeltaUsage(output_tokens=2),
    )
    msg = accumulate([start(), md, STOP]).result()
    assert msg.container is not None and msg.container.id == "container_1"
    assert msg.stop_details is not None and msg.stop_details.category == "bio"


def test_stop_events_carry_nothing_to_keep() -> None:
    acc = accumulate([start(), STOP])
    acc.add(t.RawContentBlockStopEvent(index=0))
    assert acc.result() == accumulate([start()]).result()
    assert acc.result().content == []


# -- truncation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "anthropic_stream_tool_use.json",
        "anthropic_stream_thinking.json",
        "anthropic_stream_server_tools.json",
    ],
)
def test_every_truncation_is_refused(name: str) -> None:
    # The end rule is StreamReader's: final() refuses every prefix without message_stop.
    body = sse_body(name)
    ends = [i + 2 for i in range(len(body)) if body.startswith(b"\n\n", i)]
    assert ends[-1] == len(body)
    for cut in [0, *ends[:-1]]:  # every whole-event prefix that lacks message_stop
        reader = StreamReader(messages())
        reader.feed(body[:cut])
        with pytest.raises(rawllm.APIConnectionError, match="message_stop"):
            reader.eof()
        with pytest.raises(rawllm.APIConnectionError, match="message_stop"):
            reader.final()
    reader = StreamReader(messages())
    reader.feed(body)
    assert (
        reader.eof() == [] and reader.final() == accumulate(decode(load(name)["events"])).result()
    )


def test_snapshot_shows_a_truncated_message_so_far() -> None:
    events = decode(load("anthropic_stream_tool_use.json")["events"])
    assert MessageAccumulator().snapshot() is None
    acc = accumulate(events[:4])  # start, block start, 2 of the 3 text deltas
    snap = acc.snapshot()
    assert snap is not None
    assert snap.content[0].text == "Okay, let's check the weather ☀️"  # type: ignore[union-attr]
    assert snap.stop_reason is None


def test_snapshot_mid_tool_input_keeps_the_start_input() -> None:
    events = [
        start(),
        block_start(0, t.ToolUseBlock(id="t", name="f", input={})),
        delta(0, t.InputJSONDelta(partial_json='{"city": "Par')),
    ]
    acc = accumulate(events)
    snap = acc.snapshot()
    assert snap is not None and snap.content[0] == t.ToolUseBlock(id="t", name="f", input={})
    acc.add(delta(0, t.InputJSONDelta(partial_json='is"}')))
    acc.add(STOP)
    assert acc.result().content[0].input == {"city": "Paris"}  # type: ignore[union-attr]


def test_message_stop_without_message_start() -> None:
    acc = accumulate([STOP])
    with pytest.raises(rawllm.APIResponseValidationError, match="message_start"):
        acc.result()


# -- the whole pipeline: bytes -> SSE -> events -> Message, split at every byte -----------


def test_pipeline_from_bytes_split_at_every_byte() -> None:
    payload = load("anthropic_stream_tool_use.json")
    body = sse_body("anthropic_stream_tool_use.json")
    reader = StreamReader(messages())
    for i in range(len(body)):
        reader.feed(body[i : i + 1])
    assert reader.eof() == []
    msg = reader.final()
    assert [b.input for b in msg.content[1:]] == payload["expected_inputs"]  # type: ignore[union-attr]


def test_pipeline_raises_the_in_stream_error() -> None:
    reader = StreamReader(messages())
    items = reader.feed(sse_body("anthropic_stream_overloaded.json"))
    with pytest.raises(rawllm.OverloadedError):
        reader.eof()
    with pytest.raises(rawllm.APIConnectionError, match="not complete"):
        reader.final()
    snap = accumulate(items).snapshot()
    assert snap is not None and snap.content[0].text == "Hel"  # type: ignore[union-attr]


def test_citations_deltas_are_appended_to_those_the_block_started_with() -> None:
    first = t.TextCitation(type="char_location", cited_text="a", document_index=0)
    second = t.TextCitation(type="page_location", cited_text="b", start_page_number=1)
    events = [
        start(),
        block_start(0, t.TextBlock(text="", citations=[first])),
        delta(0, t.TextDelta(text="x")),
        delta(0, t.CitationsDelta(citation=second)),
        block_start(1, t.TextBlock(text="plain")),
        STOP,
    ]
    cited, plain = accumulate(events).result().content
    assert cited == t.TextBlock(text="x", citations=[first, second])
    assert plain == t.TextBlock(text="plain", citations=None)
