"""JSON encoding and SSE framing shared by the wire renderers and the app."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DONE", "JSON", "KEEPALIVE", "PING", "SSE", "decode", "encode", "sse"]

encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder().decode

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def sse(event: str, obj: Any) -> bytes:
    """One ``event:``-named SSE frame with ``obj`` as JSON data."""
    return b"event: " + event.encode() + b"\ndata: " + encode(obj) + b"\n\n"
