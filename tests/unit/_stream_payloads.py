"""The recorded stream payloads under payloads/ as the bytes a server sends, and their format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rawllm import _formats
from rawllm._formats import WireFormat

PAYLOADS = Path(__file__).parent / "payloads"

STREAMS = sorted(p.name for p in PAYLOADS.glob("*_stream_*.json"))


def events(name: str) -> list[Any]:
    events: list[Any] = json.loads((PAYLOADS / name).read_text())["events"]
    return events


def wire_format(name: str) -> WireFormat[Any, Any]:
    """The format a payload file is in, by its prefix."""
    if name.startswith("openai_"):
        return _formats.CHAT
    if name.startswith("anthropic_"):
        return _formats.messages()
    if name.startswith("responses_"):
        return _formats.responses()
    raise ValueError(name)


def _data(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def sse_body(name: str) -> bytes:
    """The payload's events as a server sends them: ``event:`` lines where recorded, UTF-8."""
    out: list[str] = []
    for event in events(name):
        if isinstance(event, dict) and set(event) == {"event", "data"}:
            out.append(f"event: {event['event']}\ndata: {_data(event['data'])}\n\n")
        else:
            out.append(f"data: {_data(event)}\n\n")
    return "".join(out).encode()
