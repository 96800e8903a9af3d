"""Anthropic Messages on the wire: the ``message`` body and its event stream.

``message_start``, then per content block (thinking, text, tool_use)
``content_block_start`` / ``content_block_delta`` ... / ``content_block_stop``
(a ``ping`` after the first start), ``message_delta`` with the stop reason and
usage, and ``message_stop``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ._planning import Reply
from ._render_common import PING, decode, encode, sse

__all__ = ["messages_body", "messages_frames"]


def _anthropic_usage(r: Reply, output: int) -> dict[str, Any]:
    return {
        "input_tokens": r.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _signature(thinking: str) -> str:
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


def _anthropic_stop(r: Reply) -> str:
    return "tool_use" if r.tool_calls else ("max_tokens" if r.truncated else "end_turn")


def _anthropic_content(rid: str, r: Reply) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if r.thinking:
        t = "".join(r.thinking)
        content.append({"type": "thinking", "thinking": t, "signature": _signature(t)})
    content.append({"type": "text", "text": r.text})
    for i, c in enumerate(r.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_01{rid}{i}",
                "name": c.name,
                "input": decode(c.arguments),
            }
        )
    return content


def messages_body(rid: str, model: str, r: Reply) -> bytes:
    return encode(
        {
            "id": "msg_01" + rid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _anthropic_content(rid, r),
            "stop_reason": _anthropic_stop(r),
            "stop_sequence": None,
            "usage": _anthropic_usage(r, r.completion_tokens),
        }
    )


def messages_frames(rid: str, model: str, r: Reply) -> list[bytes]:
    frames = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01" + rid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _anthropic_usage(r, 1),
                },
            },
        )
    ]
    index = 0
    delta_head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'

    def block(
        start: dict[str, Any],
        kind: bytes,
        field_name: bytes,
        pieces: tuple[str, ...],
        extra: list[bytes] | None = None,
    ) -> None:
        nonlocal index
        frames.append(
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        if index == 0:
            frames.append(PING)
        head = (
            delta_head
            + str(index).encode()
            + b',"delta":{"type":"'
            + kind
            + b'","'
            + field_name
            + b'":'
        )
        for piece in pieces:
            frames.append(head + encode(piece) + b"}}\n\n")
        frames.extend(extra or ())
        frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if r.thinking:
        sig = encode(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": _signature("".join(r.thinking))},
            }
        )
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            b"thinking_delta",
            b"thinking",
            r.thinking,
            [b"event: content_block_delta\ndata: " + sig + b"\n\n"],
        )
    block({"type": "text", "text": ""}, b"text_delta", b"text", r.pieces)
    for i, c in enumerate(r.tool_calls):
        block(
            {"type": "tool_use", "id": f"toolu_01{rid}{i}", "name": c.name, "input": {}},
            b"input_json_delta",
            b"partial_json",
            c.pieces,
        )
    frames.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _anthropic_stop(r), "stop_sequence": None},
                "usage": {"output_tokens": r.completion_tokens},
            },
        )
    )
    frames.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return frames
