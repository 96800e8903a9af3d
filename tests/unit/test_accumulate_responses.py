"""ResponseAccumulator: the final Response of a Responses stream, truncation, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _stream_payloads import sse_body

import rawllm
from rawllm import _formats as formats
from rawllm._accumulate_events import ResponseAccumulator
from rawllm._reader import StreamReader
from rawllm._wire import responses as wire
from rawllm.sse import ServerSentEvent, SSEDecoder
from rawllm.types import responses as t

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


def accumulate(events: list[Any]) -> ResponseAccumulator:
    acc = ResponseAccumulator()
    for e in events:
        acc.add(e)
    return acc


def test_text_stream_final_is_the_completed_response() -> None:
    payload = load("responses_stream_text.json")
    events = decode(payload["events"])
    acc = accumulate(events)
    final = acc.result()
    assert isinstance(final, t.Response)
    assert final is events[-1].response
    assert final.status == "completed"
    assert final.output_text == "Hi there! ☺ How can I help?"
    # the text deltas the stream showed add up to the final text
    assert "".join(x for e in events if (x := wire.text_delta(e)) is not None) == final.output_text
    assert final.usage is not None and final.usage.total_tokens == 123


def test_function_call_stream() -> None:
    payload = load("responses_stream_function_call.json")
    final = accumulate(decode(payload["events"])).result()
    reasoning, call = final.output
    assert isinstance(reasoning, t.ResponseReasoningItem)
    assert reasoning.summary == [t.Summary(text="**Plan**\n\nCall the tool.")]
    assert reasoning.encrypted_content == "gAAAAABo..."
    assert isinstance(call, t.ResponseFunctionToolCall)
    assert call.arguments == payload["expected_arguments"]
    assert (call.call_id, call.name, call.status) == ("call_1", "get_current_weather", "completed")
    assert final.output_text == ""


def test_incomplete_ends_the_stream_and_is_the_final_response() -> None:
    events = decode(load("responses_stream_incomplete.json")["events"])
    acc = accumulate(events)
    assert type(events[-1]) in formats.responses().end_types
    final = acc.result()
    assert final.status == "incomplete"
    assert final.incomplete_details == t.IncompleteDetails(reason="max_output_tokens")
    assert final.output_text == "Once upon a"


@pytest.mark.parametrize(
    "name",
    [
        "responses_stream_text.json",
        "responses_stream_function_call.json",
        "responses_stream_incomplete.json",
    ],
)
def test_every_truncation_is_refused(name: str) -> None:
    # The end rule is StreamReader's: final() refuses every prefix without the final event.
    body = sse_body(name)
    ends = [i + 2 for i in range(len(body)) if body.startswith(b"\n\n", i)]
    for cut in [0, *ends[:-1]]:
        reader = StreamReader(formats.responses())
        reader.feed(body[:cut])
        with pytest.raises(rawllm.APIConnectionError, match="response.completed"):
            reader.eof()
        with pytest.raises(rawllm.APIConnectionError, match="response.completed"):
            reader.final()
        with pytest.raises(rawllm.APIResponseValidationError):  # no final event to take
            accumulate(reader.items).result()


def test_snapshot_is_the_latest_lifecycle_response() -> None:
    events = decode(load("responses_stream_text.json")["events"])
    assert ResponseAccumulator().snapshot() is None
    acc = accumulate(events[:3])  # created, in_progress, output_item.added
    snap = acc.snapshot()
    assert snap is not None and snap.status == "in_progress"
    acc = accumulate(events)
    assert acc.snapshot() is acc.result()


def test_queued_then_completed() -> None:
    queued = t.ResponseQueuedEvent(response=t.Response(id="r", status="queued"))
    done = t.ResponseCompletedEvent(response=t.Response(id="r", status="completed"))
    acc = accumulate([queued])
    assert acc.snapshot() is queued.response
    acc.add(done)
    assert acc.result() is done.response


def test_in_stream_failures_raise_before_reaching_the_accumulator() -> None:
    acc = ResponseAccumulator()
    with pytest.raises(rawllm.RateLimitError):
        for event in decode(load("responses_stream_failed.json")["events"]):
            acc.add(event)
    with pytest.raises(rawllm.APIResponseValidationError):
        acc.result()
    with pytest.raises(rawllm.InternalServerError):
        decode(load("responses_stream_error.json")["events"])


def test_pipeline_from_bytes_split_at_every_byte() -> None:
    payload = load("responses_stream_function_call.json")
    body = "".join(
        f"event: {e['event']}\ndata: {json.dumps(e['data'], ensure_ascii=False)}\n\n"
        for e in payload["events"]
    ).encode()
    decoder = SSEDecoder()
    acc = ResponseAccumulator()
    args: list[str] = []
    for i in range(len(body)):
        for sse in decoder.feed(body[i : i + 1]):
            event = wire.decode_event(sse)
            if isinstance(event, t.ResponseFunctionCallArgumentsDeltaEvent):
                args.append(event.delta)
            if event is not None:
                acc.add(event)
    assert decoder.close() == []
    assert "".join(args) == payload["expected_arguments"]
    assert acc.result().output[1].arguments == payload["expected_arguments"]  # type: ignore[union-attr]
