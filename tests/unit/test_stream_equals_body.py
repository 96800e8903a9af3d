"""Streams never disagree with non-streams: ``final()`` equals the decoded non-streamed answer.

Every stream payload in ``payloads/`` carries the body the same answer has
when not streamed (``non_stream``) and where that body came from
(``non_stream_source``: the official SDK folding the same events where it
can, else written out and checked by hand: the SDK cannot fold Azure's filter
chunks, index-less tool calls, ``n=2`` or an unknown block's input).  A
Responses stream's answer is the response its terminal event carries.  The
stream goes through ``StreamReader`` as the client runs it, fed in pieces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rawllm import _formats as formats
from rawllm._reader import StreamReader

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


def sse_bytes(events: list[Any]) -> bytes:
    out = []
    for e in events:
        if isinstance(e, str):  # chat: "[DONE]"
            out.append(f"data: {e}\n\n")
        elif "event" in e and "data" in e:
            data = e["data"] if isinstance(e["data"], str) else json.dumps(e["data"])
            out.append(f"event: {e['event']}\ndata: {data}\n\n")
        else:  # a bare chat chunk
            out.append(f"data: {json.dumps(e)}\n\n")
    return "".join(out).encode()


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_final_equals_the_non_streamed_answer(path: Path) -> None:
    payload = json.loads(path.read_text("utf-8"))
    fmt: Any
    if path.name.startswith("openai_stream"):
        fmt, body = formats.CHAT, payload["non_stream"]
    elif path.name.startswith("anthropic_stream"):
        fmt, body = formats.messages(), payload["non_stream"]
    else:
        fmt = formats.responses()
        body = next(
            e["data"]["response"]
            for e in payload["events"]
            if e["data"].get("type") in ("response.completed", "response.incomplete")
        )
    raw = sse_bytes(payload["events"])
    reader: StreamReader[Any, Any] = StreamReader(fmt)
    for i in range(0, len(raw), 13):
        reader.feed(raw[i : i + 13])
    reader.eof()
    assert reader.final() == fmt.decode(json.dumps(body).encode())
