"""OpenAI Responses API: bodies, output items, output_text, stream events, errors, unknown types."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawllm
from rawllm import _formats as formats
from rawllm._wire import responses as wire
from rawllm.sse import ServerSentEvent, SSEDecoder
from rawllm.types import _responses_items as items
from rawllm.types import responses as t
from rawllm.types._base import BaseModel, Result, StreamItem, attach

PAYLOADS = Path(__file__).parent / "payloads"
STREAMS = [
    "responses_stream_text.json",
    "responses_stream_function_call.json",
    "responses_stream_incomplete.json",
]


def raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def ev(name: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=data if isinstance(data, str) else json.dumps(data))


def decode_all(events: list[dict[str, Any]]) -> list[Any]:
    body = "".join(
        f"event: {e['event']}\ndata: {json.dumps(e['data'], ensure_ascii=False)}\n\n"
        for e in events
    ).encode()
    decoder = SSEDecoder()
    sse = decoder.feed(body) + decoder.close()
    return [x for x in (wire.decode_event(s) for s in sse) if x is not None]


# -- .type and class layout ------------------------------------------------------------------

TAGGED = (
    list(typing.get_args(items._KnownOutputItem))
    + list(typing.get_args(items._KnownOutputContent))
    + list(typing.get_args(t.ResponseStreamEvent))
    + [t.ResponseFailedEvent, t.ResponseErrorEvent]
)


@pytest.mark.parametrize("cls", TAGGED, ids=lambda c: c.__name__)
def test_type_attribute_is_the_wire_tag(cls: Any) -> None:
    assert cls.type == cls.__struct_config__.tag
    assert cls.__struct_config__.tag_field == "type"


def test_results_and_nested_bases() -> None:
    assert issubclass(t.Response, Result)
    for cls in (*typing.get_args(t.ResponseStreamEvent), t.ResponseFailedEvent):
        assert issubclass(cls, StreamItem) and not issubclass(cls, Result), cls
        assert cls.__struct_config__.gc is False
    for cls in (t.ResponseUsage, t.ResponseOutputMessage, t.ResponseOutputText, t.Annotation):
        assert issubclass(cls, BaseModel) and not issubclass(cls, Result), cls


# -- bodies ----------------------------------------------------------------------------------


def test_message_response_output_text_annotations_usage() -> None:
    body = raw("responses_response_message.json")
    resp = wire.decode_response(body)
    assert isinstance(resp, t.Response)
    assert (resp.id, resp.object, resp.status, resp.model) == (
        "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c8a36d68",
        "response",
        "completed",
        "gpt-4.1-2025-04-14",
    )
    assert resp.created_at == 1741476542
    assert resp.output_text == (
        "In a peaceful grove beneath a silver moon, "
        "a unicorn named Lumina discovered a hidden pool."
    )
    (item,) = resp.output
    assert isinstance(item, t.ResponseOutputMessage)
    assert (item.type, item.role, item.status) == ("message", "assistant", "completed")
    part = item.content[1]
    assert isinstance(part, t.ResponseOutputText) and part.type == "output_text"
    url, file, future = part.annotations
    assert (url.type, url.url, url.title, url.start_index, url.end_index) == (
        "url_citation",
        "https://example.com/lumina",
        "Lumina",
        2,
        10,
    )
    assert (file.type, file.file_id, file.filename, file.index) == (
        "file_citation",
        "file-abc",
        "unicorns.pdf",
        5,
    )
    assert future.type == "brand_new_annotation"
    u = resp.usage
    assert u is not None
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (36, 87, 123)
    assert u.input_tokens_details is not None and u.input_tokens_details.cached_tokens == 0
    assert u.output_tokens_details is not None and u.output_tokens_details.reasoning_tokens == 0
    assert (resp.error, resp.incomplete_details) == (None, None)
    assert (resp.instructions, resp.metadata, resp.tool_choice) == ("You are terse.", {}, "auto")
    assert (resp.temperature, resp.top_p, resp.parallel_tool_calls) == (1.0, 1.0, True)
    attach(resp, body, "req_9")
    assert resp.to_dict()["new_top_level_field"] == "kept"


def test_reasoning_function_call_and_other_items() -> None:
    resp = wire.decode_response(raw("responses_response_function_call.json"))
    assert [i.type for i in resp.output] == [
        "reasoning",
        "function_call",
        "image_generation_call",
        "future_tool_call",
        "custom_tool_call",
        "computer_call",
        "code_interpreter_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_call",
        "web_search_call",
        "file_search_call",
    ]
    (
        reasoning,
        call,
        image,
        future,
        custom,
        computer,
        interpreter,
        mcp_tools,
        mcp_approval,
        mcp_call,
        search,
        files,
    ) = resp.output
    assert isinstance(reasoning, t.ResponseReasoningItem)
    assert reasoning.summary[0].type == "summary_text"
    assert reasoning.summary[0].text.startswith("**Checking the weather**")
    assert reasoning.encrypted_content == "gAAAAABoISQ24OyVRYbkYfukDgHBD..."
    assert isinstance(call, t.ResponseFunctionToolCall)
    assert (call.call_id, call.name, call.id, call.status) == (
        "call_unLAR8MvFNptuiZK6K6HCy5k",
        "get_current_weather",
        "fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0",
        "completed",
    )
    assert json.loads(call.arguments) == {"location": "Paris, Françe", "unit": "celsius"}
    assert isinstance(image, t.ImageGenerationCall)
    assert (image.id, image.status, image.result) == ("ig_1", "completed", "iVBORw0KGgo...")
    assert isinstance(future, t.UnknownOutputItem)
    assert future.data["payload"] == {"k": [1, 2]} and future["id"] == "ft_1"
    assert future.to_dict() == load("responses_response_function_call.json")["output"][3]
    assert msgspec.json.decode(wire.encode({"input": [future]}))["input"][0] == future
    assert isinstance(custom, t.ResponseCustomToolCall)
    assert (custom.call_id, custom.name, custom.input) == ("call_c1", "code_exec", "print('hi')")
    assert isinstance(computer, t.ResponseComputerToolCall) and computer.action is not None
    assert (computer.call_id, computer.action["x"]) == ("call_cu1", 10)
    assert isinstance(interpreter, t.ResponseCodeInterpreterToolCall)
    assert (interpreter.code, interpreter.container_id) == ("1+1", "cntr_1")
    assert interpreter.outputs == [{"type": "logs", "logs": "2"}]
    assert isinstance(mcp_tools, t.McpListTools) and mcp_tools.tools[0]["name"] == "ask"
    assert isinstance(mcp_approval, t.McpApprovalRequest)
    assert (mcp_approval.name, mcp_approval.server_label) == ("ask", "deepwiki")
    assert isinstance(mcp_call, t.McpCall)
    assert (json.loads(mcp_call.arguments), mcp_call.output, mcp_call.error) == (
        {"q": 1},
        "42",
        None,
    )
    assert isinstance(search, t.ResponseFunctionWebSearch) and search.action is not None
    assert search.action["query"] == "paris weather"
    assert isinstance(files, t.ResponseFileSearchToolCall) and files.queries == ["weather"]
    assert resp.output_text == ""  # no message item
    assert resp.reasoning == t.Reasoning(effort="medium", summary="auto")
    assert resp.usage is not None and resp.usage.output_tokens_details is not None
    assert resp.usage.output_tokens_details.reasoning_tokens == 256
    assert resp.usage.input_tokens_details is not None
    assert resp.usage.input_tokens_details.cached_tokens == 256
    assert resp.tools[0]["name"] == "get_current_weather"


def test_incomplete_and_refusal() -> None:
    resp = wire.decode_response(raw("responses_response_incomplete.json"))
    assert resp.status == "incomplete"
    assert resp.incomplete_details == t.IncompleteDetails(reason="max_output_tokens")
    assert resp.output_text == "Once upon a"
    resp = wire.decode_response(raw("responses_response_refusal.json"))
    item = resp.output[0]
    assert isinstance(item, t.ResponseOutputMessage)
    part = item.content[0]
    assert isinstance(part, t.ResponseOutputRefusal)
    assert part.refusal == "I can't assist with that."
    assert resp.output_text == ""


def test_unknown_content_part_inside_a_message_and_output_text_skips_it() -> None:
    body = load("responses_response_message.json")
    body["output"][0]["content"].insert(1, {"type": "output_audio", "transcript": "hi"})
    body["output"].insert(0, {"type": "apply_patch_call", "id": "apc_1", "operation": {}})
    resp = wire.decode_response(json.dumps(body))
    assert isinstance(resp.output[0], t.UnknownOutputItem)
    assert resp.output[0].type == "apply_patch_call"
    message = resp.output[1]
    assert isinstance(message, t.ResponseOutputMessage)
    assert [type(p) for p in message.content] == [
        t.ResponseOutputText,
        t.UnknownContentPart,
        t.ResponseOutputText,
    ]
    assert message.content[1].type == "output_audio"
    assert resp.output_text.endswith("hidden pool.")


def test_output_text_joins_every_message_item() -> None:
    resp = t.Response(
        id="r",
        output=[
            t.ResponseOutputMessage(content=[t.ResponseOutputText(text="a")]),
            t.ResponseFunctionToolCall(call_id="c", name="f"),
            t.ResponseOutputMessage(
                content=[t.ResponseOutputRefusal(refusal="no"), t.ResponseOutputText(text="b")]
            ),
        ],
    )
    assert resp.output_text == "ab"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>bad gateway</html>",
        b"",
        b"[]",
        b'{"output": []}',  # no id
        b'{"id": "r", "output": {}}',
        b'{"id": "r", "output": [{"no_type": 1}]}',
        b'{"id": "r", "output": "text"}',
    ],
)
def test_invalid_bodies(body: bytes) -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        wire.decode_response(body)
    assert info.value.body == body.decode()


def test_odd_items_and_fields_are_kept_as_sent_and_the_answer_survives() -> None:
    body = (
        b'{"id": "r", "status": ["odd"], "output": ['
        b'{"type": "function_call", "name": "f"}, '  # no call_id: kept whole, as unknown
        b'{"type": "message", "content": [{"type": "output_text", "text": "Hi", '
        b'"annotations": {"odd": 1}}]}]}'
    )
    resp = wire.decode_response(body)
    odd, message = resp.output
    assert isinstance(odd, t.UnknownOutputItem) and odd == {"type": "function_call", "name": "f"}
    assert resp.output_text == "Hi"
    assert resp.status is None
    assert resp.raw_fields == {
        "$.status": ["odd"],
        "$.output[0]": {"type": "function_call", "name": "f"},
        "$.output[1].content[0].annotations": {"odd": 1},
    }


def test_mcp_call_error_is_the_spec_object() -> None:
    # The spec's MCPToolCallError; a string (older answers) still decodes.
    body = (
        b'{"id": "r", "output": [{"type": "mcp_call", "id": "mcp_1", "server_label": "s", '
        b'"name": "echo", "arguments": "{}", "output": null, "status": "failed", '
        b'"error": {"type": "http_error", "code": 500, "message": "upstream failed"}}, '
        b'{"type": "message", "content": [{"type": "output_text", "text": "Sorry"}]}]}'
    )
    resp = wire.decode_response(body)
    call = resp.output[0]
    assert isinstance(call, t.McpCall)
    assert call.error == t.McpToolCallError(type="http_error", code=500, message="upstream failed")
    assert resp.output_text == "Sorry" and resp.raw_fields == {}
    old = wire.decode_response(
        body.replace(
            b'{"type": "http_error", "code": 500, "message": "upstream failed"}', b'"boom"'
        )
    )
    assert old.output[0].error == "boom"  # type: ignore[union-attr]


def test_encode() -> None:
    params = {
        "model": "gpt-5-mini",
        "input": [{"role": "user", "content": "héllo"}],
        "stream": True,
    }
    assert json.loads(wire.encode(params)) == params


def test_attribute_paths_match_the_official_sdk() -> None:
    sdk = pytest.importorskip("openai.types.responses")
    for name in ("responses_response_message.json", "responses_response_incomplete.json"):
        body = raw(name)
        # construct(): the SDK's own lenient decoding of a response (validation would
        # refuse the payload's deliberately unknown annotation kind)
        theirs = sdk.Response.construct(**json.loads(body))
        ours = wire.decode_response(body)
        assert ours.output_text == theirs.output_text
        assert ours.usage is not None and theirs.usage is not None
        assert ours.usage.input_tokens_details.cached_tokens == (  # type: ignore[union-attr]
            theirs.usage.input_tokens_details.cached_tokens
        )
        assert ours.usage.output_tokens_details.reasoning_tokens == (  # type: ignore[union-attr]
            theirs.usage.output_tokens_details.reasoning_tokens
        )
        item = ours.output[0]
        assert isinstance(item, t.ResponseOutputMessage)
        assert item.content[0].text == theirs.output[0].content[0].text  # type: ignore[union-attr]
        assert (ours.id, ours.status, ours.model, ours.created_at) == (
            theirs.id,
            theirs.status,
            theirs.model,
            theirs.created_at,
        )
        assert ours.incomplete_details == (
            None
            if theirs.incomplete_details is None
            else t.IncompleteDetails(reason=theirs.incomplete_details.reason)
        )


# -- stream events ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_streams_decode_to_typed_events(name: str) -> None:
    payload = load(name)
    events = decode_all(payload["events"])
    expected = [
        e["data"]["type"] for e in payload["events"] if e["data"]["type"] in wire._EVENT_TYPES
    ]
    assert [e.type for e in events] == expected
    assert [e.sequence_number for e in events] == [
        e["data"]["sequence_number"]
        for e in payload["events"]
        if e["data"]["type"] in wire._EVENT_TYPES
    ]
    assert ends(events[-1])
    assert not any(ends(e) for e in events[:-1])


def test_event_fields() -> None:
    events = decode_all(load("responses_stream_text.json")["events"])
    by_type = {e.type: e for e in events}
    created = by_type["response.created"]
    assert isinstance(created, t.ResponseCreatedEvent)
    assert created.response.status == "in_progress" and created.response.output == []
    added = by_type["response.output_item.added"]
    assert isinstance(added, t.ResponseOutputItemAddedEvent)
    assert isinstance(added.item, t.ResponseOutputMessage) and added.output_index == 0
    part = by_type["response.content_part.added"]
    assert isinstance(part, t.ResponseContentPartAddedEvent)
    assert isinstance(part.part, t.ResponseOutputText) and part.item_id == "msg_s1"
    delta = by_type["response.output_text.delta"]
    assert isinstance(delta, t.ResponseTextDeltaEvent)
    assert (delta.item_id, delta.output_index, delta.content_index) == ("msg_s1", 0, 0)
    done = by_type["response.output_text.done"]
    assert isinstance(done, t.ResponseTextDoneEvent)
    assert done.text == "Hi there! ☺ How can I help?"
    item_done = by_type["response.output_item.done"]
    assert isinstance(item_done, t.ResponseOutputItemDoneEvent)
    assert item_done.item.status == "completed"  # type: ignore[union-attr]
    completed = by_type["response.completed"]
    assert isinstance(completed, t.ResponseCompletedEvent)
    assert completed.response.output_text == done.text


def test_function_call_and_reasoning_events() -> None:
    payload = load("responses_stream_function_call.json")
    events = decode_all(payload["events"])
    args = "".join(
        e.delta for e in events if isinstance(e, t.ResponseFunctionCallArgumentsDeltaEvent)
    )
    assert args == payload["expected_arguments"]
    (done,) = [e for e in events if isinstance(e, t.ResponseFunctionCallArgumentsDoneEvent)]
    assert done.arguments == args and done.item_id == "fc_1" and done.output_index == 1
    assert json.loads(args) == {"location": 'Paris, Françe"sé', "unit": "celsius"}
    summary = "".join(
        e.delta for e in events if isinstance(e, t.ResponseReasoningSummaryTextDeltaEvent)
    )
    (summary_done,) = [e for e in events if isinstance(e, t.ResponseReasoningSummaryTextDoneEvent)]
    assert summary == summary_done.text == "**Plan**\n\nCall the tool."
    parts = [e for e in events if isinstance(e, t.ResponseReasoningSummaryPartAddedEvent)]
    assert parts[0].part == t.Summary(text="")
    unknown_item = [
        e
        for e in events
        if isinstance(e, t.ResponseOutputItemAddedEvent) and isinstance(e.item, t.UnknownOutputItem)
    ]
    assert len(unknown_item) == 1 and unknown_item[0].item.type == "future_tool_call"
    assert unknown_item[0].output_index == 2


def test_other_typed_events() -> None:
    cases: list[tuple[dict[str, Any], type, str, Any]] = [
        (
            {"type": "response.refusal.delta", "item_id": "m", "delta": "I can"},
            t.ResponseRefusalDeltaEvent,
            "delta",
            "I can",
        ),
        (
            {"type": "response.refusal.done", "item_id": "m", "refusal": "I can't"},
            t.ResponseRefusalDoneEvent,
            "refusal",
            "I can't",
        ),
        (
            {
                "type": "response.output_text.annotation.added",
                "item_id": "m",
                "annotation_index": 0,
                "annotation": {"type": "url_citation", "url": "https://x"},
            },
            t.ResponseOutputTextAnnotationAddedEvent,
            "annotation",
            t.Annotation(type="url_citation", url="https://x"),
        ),
        (
            {"type": "response.reasoning_text.delta", "item_id": "rs", "delta": "think"},
            t.ResponseReasoningTextDeltaEvent,
            "delta",
            "think",
        ),
        (
            {"type": "response.reasoning_text.done", "item_id": "rs", "text": "thought"},
            t.ResponseReasoningTextDoneEvent,
            "text",
            "thought",
        ),
        (
            {"type": "response.queued", "response": {"id": "r", "status": "queued"}},
            t.ResponseQueuedEvent,
            "response",
            t.Response(id="r", status="queued"),
        ),
    ]
    for data, cls, attr, value in cases:
        out = wire.decode_event(ev(data["type"], data))
        assert type(out) is cls, data
        assert getattr(out, attr) == value


@pytest.mark.parametrize(
    "data",
    [
        {"type": "response.some_future_event", "x": 1},
        {"type": "response.mcp_call.in_progress", "item_id": "m", "output_index": 0},
        {"type": "keepalive"},
    ],
)
def test_unknown_event_types_are_skipped(data: dict[str, Any]) -> None:
    assert wire.decode_event(ev(data["type"], data)) is None
    assert wire.decode_event(ev("message", data)) is None


def test_unknown_part_in_content_part_event() -> None:
    data: dict[str, Any] = {
        "type": "response.content_part.added",
        "item_id": "rs_1",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "reasoning_text", "text": ""},
    }
    out = wire.decode_event(ev(data["type"], data))
    assert isinstance(out, t.ResponseContentPartAddedEvent)
    assert isinstance(out.part, t.UnknownContentPart)
    assert out.part.type == "reasoning_text" and out.part == data["part"]


def test_unknown_item_inside_the_completed_response() -> None:
    data = load("responses_stream_text.json")["events"][-1]["data"]
    data["response"]["output"].insert(0, {"type": "shell_call", "id": "sh_1"})
    out = wire.decode_event(ev(data["type"], data))
    assert isinstance(out, t.ResponseCompletedEvent)
    assert isinstance(out.response.output[0], t.UnknownOutputItem)
    assert out.response.output_text == "Hi there! ☺ How can I help?"


def test_known_events_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: str) -> None:
        raise AssertionError(f"slow path taken for {data}")

    monkeypatch.setattr(wire, "_decode_event_slow", boom)
    events = [e for e in load("responses_stream_text.json")["events"] if "future" not in e["event"]]
    assert len(decode_all(events)) == len(events)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("server_error", rawllm.InternalServerError),
        ("rate_limit_exceeded", rawllm.RateLimitError),
        ("insufficient_quota", rawllm.RateLimitError),
        (None, rawllm.InternalServerError),
    ],
)
def test_error_event_raises(code: str | None, cls: type) -> None:
    data = {
        "type": "error",
        "code": code,
        "message": "It broke",
        "param": None,
        "sequence_number": 4,
    }
    for sse in (ev("error", data), ev("message", data)):
        with pytest.raises(rawllm.APIStatusError) as info:
            wire.decode_event(sse)
        assert type(info.value) is cls
        assert info.value.body == data
        assert "It broke" in str(info.value)


def test_nested_error_object_event() -> None:
    data = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad input"}}
    with pytest.raises(rawllm.BadRequestError):
        wire.decode_event(ev("error", data))


def test_error_event_with_text_data() -> None:
    with pytest.raises(rawllm.InternalServerError, match="gateway timeout"):
        wire.decode_event(ServerSentEvent(event="error", data="gateway timeout"))


def test_error_payload_stream() -> None:
    with pytest.raises(rawllm.InternalServerError) as info:
        decode_all(load("responses_stream_error.json")["events"])
    assert info.value.body["code"] == "server_error"


def test_response_failed_raises_from_the_response_error() -> None:
    payload = load("responses_stream_failed.json")
    with pytest.raises(rawllm.RateLimitError) as info:
        decode_all(payload["events"])
    assert info.value.body == {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached for gpt-4.1",
    }
    assert "Rate limit reached" in str(info.value)
    failed = payload["events"][-1]["data"]
    failed["response"]["error"] = None
    with pytest.raises(rawllm.InternalServerError, match="without an error object"):
        wire.decode_event(ev("message", failed))


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "",
        "[]",
        '{"type": "response.output_text.delta", "item_id": "m"}',
        '{"type": "response.completed", "response": {"output": []}}',
    ],
)
def test_invalid_events(data: str) -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        wire.decode_event(ServerSentEvent(event="response.output_text.delta", data=data))
    assert info.value.body == data


def _ev(data: str) -> Any:
    return wire.decode_event(ev("message", data))


def test_events_with_odd_items_keep_them_as_sent() -> None:
    added = _ev('{"type": "response.output_item.added", "item": {"type": "function_call"}}')
    assert isinstance(added, t.ResponseOutputItemAddedEvent)
    assert added.item == {"type": "function_call"}
    assert isinstance(added.item, t.UnknownOutputItem)
    part = _ev('{"type": "response.content_part.added", "part": {"type": "output_text"}}')
    assert isinstance(part, t.ResponseContentPartAddedEvent)
    assert isinstance(part.part, t.UnknownContentPart)
    done = _ev(
        '{"type": "response.completed", "response": {"id": "r", "status": "completed", '
        '"usage": "odd", "output": [{"type": "message", "content": '
        '[{"type": "output_text", "text": "Hi"}]}]}}'
    )
    assert isinstance(done, t.ResponseCompletedEvent)
    assert done.response.output_text == "Hi" and done.response.usage is None
    assert done.response.raw_fields == {"$.usage": "odd"}


def ends(event: object) -> bool:
    """The Responses format's end rule (applied by StreamReader)."""
    return type(event) in formats.responses().end_types


def test_end_rule_and_text_delta() -> None:
    resp = t.Response(id="r")
    assert ends(t.ResponseCompletedEvent(response=resp))
    assert ends(t.ResponseIncompleteEvent(response=resp))
    assert not ends(t.ResponseInProgressEvent(response=resp))
    assert not ends(None)
    events = decode_all(load("responses_stream_text.json")["events"])
    texts = [x for e in events if (x := wire.text_delta(e)) is not None]
    assert texts == ["Hi", " there", "! ☺", " How can", " I help?"]
    assert msgspec.to_builtins(events[0])["type"] == "response.created"
