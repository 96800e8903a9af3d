"""Streams never disagree with non-streams: ``final()`` equals the decoded non-streamed answer.

Every stream payload in ``payloads/`` carries the body the same answer has
when not streamed (``non_stream``) and where that body came from
(``non_stream_source``: the official SDK folding the same events where it
can, else written out and checked by hand: the SDK cannot fold Azure's filter
chunks, index-less tool calls, ``n=2`` or an unknown block's input).  A
Responses stream's answer is the response its terminal event carries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rawllm._accumulate import ChatCompletionAccumulator
from rawllm._accumulate_events import MessageAccumulator, ResponseAccumulator
from rawllm._wire import anthropic as anthropic_wire
from rawllm._wire import openai as chat_wire
from rawllm._wire import responses as responses_wire
from rawllm.sse import ServerSentEvent

PAYLOADS = Path(__file__).parent / "payloads"
# Streams that end in an error have no answer to compare with (their tests check the error).
ERROR_STREAMS = {
    "openai_stream_openrouter_error",
    "anthropic_stream_overloaded",
    "responses_stream_error",
    "responses_stream_failed",
}
STREAMS = sorted(p for p in PAYLOADS.glob("*_stream_*.json") if p.stem not in ERROR_STREAMS)


def test_every_stream_payload_that_ends_has_its_non_streamed_answer() -> None:
    assert ERROR_STREAMS <= {p.stem for p in PAYLOADS.glob("*_stream_*.json")}
    for path in STREAMS:
        if not path.name.startswith("responses_"):
            payload = json.loads(path.read_text("utf-8"))
            assert "non_stream" in payload and payload["non_stream_source"], path.name


def _sse(event: dict[str, Any]) -> ServerSentEvent:
    data = event["data"]
    return ServerSentEvent(
        event=event.get("event", "message"),
        data=data if isinstance(data, str) else json.dumps(data),
    )


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_final_equals_the_non_streamed_answer(path: Path) -> None:
    payload = json.loads(path.read_text("utf-8"))
    if path.name.startswith("openai_stream"):
        acc = ChatCompletionAccumulator()
        for e in payload["events"]:
            item = chat_wire.decode_chunk(e if isinstance(e, str) else json.dumps(e))
            if item is chat_wire.DONE:
                break
            assert item is not None
            acc.add(item)  # type: ignore[arg-type]
        body = json.dumps(payload["non_stream"])
        assert acc.result() == chat_wire.decode_chat_completion(body)
    elif path.name.startswith("anthropic_stream"):
        macc = MessageAccumulator()
        for e in payload["events"]:
            event = anthropic_wire.decode_event(_sse(e))
            if event is not None:
                macc.add(event)
        body = json.dumps(payload["non_stream"])
        assert macc.result() == anthropic_wire.decode_message(body)
    else:
        racc = ResponseAccumulator()
        terminal: Any = None
        for e in payload["events"]:
            event = responses_wire.decode_event(_sse(e))
            if event is not None:
                racc.add(event)
                if responses_wire.is_terminal(event):
                    terminal = e["data"]["response"]
        if terminal is None:
            pytest.fail("the stream has no terminal event")
        assert racc.result() == responses_wire.decode_response(json.dumps(terminal))
