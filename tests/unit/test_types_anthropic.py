"""Anthropic Message bodies: every block type, citations, usage, unknown types, bad bodies."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawllm
from rawllm._wire import anthropic as wire
from rawllm.types import anthropic as t
from rawllm.types._base import attach

PAYLOADS = Path(__file__).parent / "payloads"


def raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


# -- .type and the tagged unions ----------------------------------------------------------


def _union_members(alias: Any) -> list[type]:
    return list(typing.get_args(alias))


TAGGED = (
    _union_members(t._KnownContentBlock)
    + _union_members(t.RawContentBlockDelta)
    + _union_members(t.MessageStreamEvent)
)


@pytest.mark.parametrize("cls", TAGGED, ids=lambda c: c.__name__)
def test_type_attribute_is_the_wire_tag(cls: type) -> None:
    tag = cls.__struct_config__.tag  # type: ignore[attr-defined]
    assert cls.type == tag  # type: ignore[attr-defined]
    assert cls.__struct_config__.tag_field == "type"  # type: ignore[attr-defined]


def test_type_is_readable_on_instances_and_emitted_by_to_dict() -> None:
    block = t.ToolUseBlock(id="toolu_1", name="f", input={"a": 1})
    assert block.type == "tool_use"
    assert block.to_dict() == {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}
    delta = t.TextDelta(text="x")
    assert delta.type == "text_delta"
    assert msgspec.json.encode(delta) == b'{"type":"text_delta","text":"x"}'


def test_sdk_aliases_point_at_the_raw_event_classes() -> None:
    assert t.MessageStartEvent is t.RawMessageStartEvent
    assert t.ContentBlockDeltaEvent is t.RawContentBlockDeltaEvent
    assert t.RawMessageStreamEvent == t.MessageStreamEvent
    assert set(typing.get_args(t.MessageStreamEvent)) == {
        t.RawMessageStartEvent,
        t.RawMessageDeltaEvent,
        t.RawMessageStopEvent,
        t.RawContentBlockStartEvent,
        t.RawContentBlockDeltaEvent,
        t.RawContentBlockStopEvent,
    }


def test_results_stream_items_and_nested_bases() -> None:
    from rawllm.types._base import BaseModel, Result, StreamItem

    assert issubclass(t.Message, Result) and issubclass(t.MessageTokensCount, Result)
    for event_cls in typing.get_args(t.MessageStreamEvent):
        # one per event: no __dict__, not GC-tracked
        assert issubclass(event_cls, StreamItem) and not issubclass(event_cls, Result)
        assert event_cls.__struct_config__.gc is False
    for cls in (t.Usage, t.TextBlock, t.TextDelta, t.TextCitation):
        assert issubclass(cls, BaseModel) and not issubclass(cls, Result), cls


# -- bodies -------------------------------------------------------------------------------


def test_text_with_citations_of_every_kind() -> None:
    body = raw("anthropic_message_text_citations.json")
    msg = wire.decode_message(body)
    assert isinstance(msg, t.Message)
    assert (msg.id, msg.type, msg.role, msg.model) == (
        "msg_01XFDUDYJgAACzvnptvVoYEL",
        "message",
        "assistant",
        "claude-sonnet-4-5-20250929",
    )
    assert [b.type for b in msg.content] == ["text"] * 5
    assert "".join(b.text for b in msg.content if isinstance(b, t.TextBlock)) == (
        "According to the document, the grass is green and the sky is blue."
    )
    first, second = msg.content[1], msg.content[3]
    assert isinstance(first, t.TextBlock) and isinstance(second, t.TextBlock)
    assert first.citations is not None and second.citations is not None
    c = first.citations[0]
    assert (c.type, c.cited_text, c.document_index, c.start_char_index, c.end_char_index) == (
        "char_location",
        "The grass is green.",
        0,
        0,
        20,
    )
    kinds = [c.type for c in second.citations]
    assert kinds == [
        "page_location",
        "content_block_location",
        "search_result_location",
        "future_location_kind",
    ]
    page, block_loc, search, future = second.citations
    assert (page.start_page_number, page.end_page_number, page.document_title) == (
        2,
        3,
        "Report.pdf",
    )
    assert (block_loc.start_block_index, block_loc.end_block_index) == (0, 1)
    assert (search.source, search.search_result_index) == ("https://kb.example/sky", 0)
    assert future.cited_text == "new kind"
    assert msg.content[2].citations is None  # type: ignore[union-attr]
    u = msg.usage
    assert (u.input_tokens, u.output_tokens) == (2095, 503)
    assert (u.cache_creation_input_tokens, u.cache_read_input_tokens) == (0, 1800)
    assert u.cache_creation == t.CacheCreation(
        ephemeral_5m_input_tokens=0, ephemeral_1h_input_tokens=0
    )
    assert u.service_tier == "standard"
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    # the whole body, unknown fields included, once the client attached the bytes
    attach(msg, body, "req_1")
    assert msg.to_dict()["new_top_level_field"] == {"kept": True}
    assert msg._request_id == "req_1"


def test_tool_use_input_is_a_dict() -> None:
    msg = wire.decode_message(raw("anthropic_message_tool_use.json"))
    assert msg.stop_reason == "tool_use"
    text, call, no_args = msg.content
    assert isinstance(text, t.TextBlock)
    assert isinstance(call, t.ToolUseBlock) and isinstance(no_args, t.ToolUseBlock)
    assert (call.id, call.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert call.input == {
        "location": "San Francisco, CA",
        "unit": "celsius",
        "days": [1, 2],
        "note": 'café "quoted"',
    }
    assert no_args.input == {}
    assert msg.usage.cache_creation_input_tokens == 1024


def test_thinking_signature_and_redacted_thinking() -> None:
    msg = wire.decode_message(raw("anthropic_message_thinking.json"))
    thinking, redacted, text = msg.content
    assert isinstance(thinking, t.ThinkingBlock)
    assert thinking.thinking == "Let me analyze this step by step..."
    assert thinking.signature.startswith("WaUjzkypQ2mUEVM36O2Txu")
    assert isinstance(redacted, t.RedactedThinkingBlock)
    assert redacted.data.startswith("EmwKAhgBEgy3va3pzix")
    assert isinstance(text, t.TextBlock) and text.text.endswith("42.")
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.cache_read_input_tokens is None  # absent -> None


def test_server_tools_every_result_block_and_unknown_blocks() -> None:
    msg = wire.decode_message(raw("anthropic_message_server_tools.json"))
    types = [b.type for b in msg.content]
    assert types == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_fetch_tool_result",
        "server_tool_use",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
        "text",
    ]
    expected_classes = [
        t.TextBlock,
        t.ServerToolUseBlock,
        t.WebSearchToolResultBlock,
        t.ServerToolUseBlock,
        t.WebSearchToolResultBlock,
        t.ServerToolUseBlock,
        t.WebFetchToolResultBlock,
        t.ServerToolUseBlock,
        t.CodeExecutionToolResultBlock,
        t.BashCodeExecutionToolResultBlock,
        t.TextEditorCodeExecutionToolResultBlock,
        t.ToolSearchToolResultBlock,
        t.ContainerUploadBlock,
        t.UnknownContentBlock,
        t.UnknownContentBlock,
        t.TextBlock,
    ]
    assert [type(b) for b in msg.content] == expected_classes
    search = msg.content[1]
    assert isinstance(search, t.ServerToolUseBlock)
    assert (search.name, search.input) == ("web_search", {"query": "claude shannon birth date"})
    hits = msg.content[2]
    assert isinstance(hits, t.WebSearchToolResultBlock) and isinstance(hits.content, list)
    assert hits.tool_use_id == search.id
    assert hits.content[0].url == "https://en.wikipedia.org/wiki/Claude_Shannon"
    assert hits.content[0].page_age == "April 30, 2025"
    failed = msg.content[4]
    assert isinstance(failed, t.WebSearchToolResultBlock)
    assert isinstance(failed.content, t.WebSearchToolResultError)
    assert failed.content.error_code == "max_uses_exceeded"
    code = msg.content[8]
    assert isinstance(code, t.CodeExecutionToolResultBlock)
    assert code.content["stdout"] == "2\n"
    upload = msg.content[12]
    assert isinstance(upload, t.ContainerUploadBlock) and upload.file_id.startswith("file_011")
    mcp = msg.content[13]
    assert isinstance(mcp, t.UnknownContentBlock)
    assert mcp.data == {
        "type": "mcp_tool_use",
        "id": "mcptoolu_01",
        "name": "echo",
        "server_name": "example",
        "input": {"x": 1},
    }
    assert mcp.type == "mcp_tool_use" and mcp.data is mcp and mcp.to_dict() == mcp.data
    assert repr(mcp).startswith("UnknownContentBlock({'type': 'mcp_tool_use'")
    last = msg.content[-1]
    assert isinstance(last, t.TextBlock) and last.citations is not None
    cite = last.citations[0]
    assert cite.type == "web_search_result_location"
    assert cite.url == "https://en.wikipedia.org/wiki/Claude_Shannon"
    assert cite.encrypted_index is not None
    assert msg.container is not None and msg.container.id.startswith("container_")
    assert msg.container.expires_at == "2025-05-23T21:13:31.749448Z"
    assert msg.stop_reason == "pause_turn"
    assert msg.usage.server_tool_use == t.ServerToolUsage(
        web_search_requests=2, web_fetch_requests=1
    )
    assert msg.usage.service_tier == "priority"


def test_refusal_and_stop_sequence() -> None:
    msg = wire.decode_message(raw("anthropic_message_refusal.json"))
    assert msg.stop_reason == "refusal"
    assert msg.stop_details == t.RefusalStopDetails(category="cyber", explanation="policy")
    msg = wire.decode_message(raw("anthropic_message_stop_sequence.json"))
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "three")


def test_new_stop_reason_values_decode_as_str() -> None:
    body = load("anthropic_message_stop_sequence.json")
    body["stop_reason"] = "model_context_window_exceeded"
    assert wire.decode_message(json.dumps(body).encode()).stop_reason == (
        "model_context_window_exceeded"
    )


def test_count_tokens() -> None:
    count = wire.decode_count_tokens(raw("anthropic_count_tokens.json"))
    assert isinstance(count, t.MessageTokensCount)
    assert count.input_tokens == 2095


def test_unknown_blocks_alone_and_in_bulk_keep_their_positions() -> None:
    body = load("anthropic_message_tool_use.json")
    body["content"] = [
        {"type": "a_new_block", "n": 0},
        {"type": "text", "text": "x"},
        {"type": "another_new_block", "n": 2, "nested": {"deep": [1]}},
    ]
    msg = wire.decode_message(json.dumps(body))
    a, text, b = msg.content
    assert isinstance(a, t.UnknownContentBlock) and isinstance(b, t.UnknownContentBlock)
    assert (a.type, a.data["n"], b.type, b.data["nested"]) == (
        "a_new_block",
        0,
        "another_new_block",
        {"deep": [1]},
    )
    assert isinstance(text, t.TextBlock) and text.text == "x"


# -- bodies that do not fit ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b'{"id": "msg_1", "content": [',
        b"[]",
        b'{"id": "msg_1", "model": "m", "content": []}',  # no usage
        b'{"id": "msg_1", "model": "m", "content": {}, '
        b'"usage": {"input_tokens": 1, "output_tokens": 1}}',
        b'{"id": "msg_1", "model": "m", "content": [{"text": "no type"}], '
        b'"usage": {"input_tokens": 1, "output_tokens": 1}}',
    ],
)
def test_invalid_bodies_raise_validation_error_with_the_text(body: bytes) -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        wire.decode_message(body)
    assert info.value.body == body.decode()
    assert info.value.status_code == 200


def test_a_known_block_of_an_unexpected_shape_is_kept_as_sent() -> None:
    # Tolerant decoding: the block cannot be typed, but its neighbours and the
    # message survive; the block is kept whole, as an unknown block.
    body = (
        b'{"id": "msg_1", "model": "m", "content": [{"type": "new"}, '
        b'{"type": "tool_use", "name": "f"}, {"type": "text", "text": "ok"}], '
        b'"usage": {"input_tokens": 1, "output_tokens": 1}}'
    )
    msg = wire.decode_message(body)
    new, odd, text = msg.content
    assert isinstance(new, t.UnknownContentBlock) and new.type == "new"
    assert isinstance(odd, t.UnknownContentBlock) and odd == {"type": "tool_use", "name": "f"}
    assert isinstance(text, t.TextBlock) and text.text == "ok"
    assert msg.raw_fields == {"$.content[1]": {"type": "tool_use", "name": "f"}}


def test_a_field_of_an_unexpected_shape_reads_as_its_default_and_is_kept() -> None:
    body = (
        b'{"id": "msg_1", "model": "m", "content": [{"type": "text", "text": "ok", '
        b'"citations": "not a list"}], "stop_reason": 7, '
        b'"usage": {"input_tokens": 1, "output_tokens": 1}}'
    )
    msg = wire.decode_message(body)
    assert msg.content[0].text == "ok"  # type: ignore[union-attr]
    assert msg.content[0].citations is None  # type: ignore[union-attr]
    assert msg.stop_reason is None
    assert msg.raw_fields == {"$.content[0].citations": "not a list", "$.stop_reason": 7}
    attach(msg, body, None)  # as the client does
    assert msg.to_dict()["stop_reason"] == 7


def test_invalid_count_tokens_body() -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        wire.decode_count_tokens(b'{"tokens": 3}')
    assert info.value.body == '{"tokens": 3}'


# -- the same attribute paths as the official SDK -----------------------------------------


def _paths(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of an SDK (pydantic) object by attribute path."""
    out: dict[str, Any] = {}
    fields = getattr(type(obj), "model_fields", None)
    if fields is not None:
        for name in fields:
            out.update(_paths(getattr(obj, name), f"{prefix}.{name}"))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            out.update(_paths(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _get(obj: Any, path: str) -> Any:
    for part in path.strip(".").replace("[", ".[").split("."):
        if part.startswith("["):
            obj = obj[int(part[1:-1])]
        else:
            obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(
    "name",
    [
        "anthropic_message_tool_use.json",
        "anthropic_message_thinking.json",
        "anthropic_message_stop_sequence.json",
    ],
)
def test_attribute_paths_match_the_official_sdk(name: str) -> None:
    sdk = pytest.importorskip("anthropic.types")
    body = raw(name)
    theirs = sdk.Message.model_validate_json(body)
    ours = wire.decode_message(body)
    # every value the body carried (the SDK also has newer optional fields, None here)
    paths = {p: v for p, v in _paths(theirs).items() if v is not None}
    assert len(paths) > 8
    for path, value in paths.items():
        assert _get(ours, path) == value, path


def test_content_passed_back_encodes_as_sent_unknown_blocks_included() -> None:
    """``messages=[{"role": "assistant", "content": msg.content}]`` resends the blocks."""
    body = load("anthropic_message_server_tools.json")
    msg = wire.decode_message(json.dumps(body))
    resent = json.loads(wire.encode({"content": msg.content}))["content"]
    assert len(resent) == len(body["content"])
    for ours, sent in zip(resent, body["content"], strict=True):
        # None-valued optional fields are not sent back; everything else is
        assert ours == {k: v for k, v in sent.items() if v is not None}, sent["type"]
