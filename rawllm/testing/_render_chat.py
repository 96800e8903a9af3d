"""OpenAI Chat Completions on the wire: the ``chat.completion`` body and the chunk stream.

The stream is ``data:``-only SSE of ``chat.completion.chunk`` objects (a role
delta, one delta per text piece or tool-call argument piece, a finish chunk per
choice, the usage chunk when ``stream_options.include_usage``), ended by
``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._planning import Reply
from ._render_common import DONE, encode

__all__ = ["chat_body", "chat_frames"]


def _logprob(i: int, piece: str, top: int) -> dict[str, Any]:
    lp = -round(0.05 * (i % 7 + 1), 2)
    entry: dict[str, Any] = {"token": piece, "logprob": lp, "bytes": list(piece.encode())}
    entry["top_logprobs"] = [
        {
            "token": piece if j == 0 else f"alt{j}",
            "logprob": lp - j,
            "bytes": list((piece if j == 0 else f"alt{j}").encode()),
        }
        for j in range(top)
    ]
    return entry


def _logprob_opts(body: Mapping[str, Any]) -> int | None:
    if body.get("logprobs") is True:
        top = body.get("top_logprobs")
        return top if isinstance(top, int) and top > 0 else 0
    return None


def _chat_usage(r: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_finish(r: Reply) -> str:
    return "tool_calls" if r.tool_calls else ("length" if r.truncated else "stop")


def chat_body(rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]) -> bytes:
    n = body.get("n")
    n = n if isinstance(n, int) and n > 0 else 1
    top = _logprob_opts(body)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if r.tool_calls or r.refusal else r.text,
        "refusal": r.refusal,
        "annotations": [],
    }
    if r.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{rid}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(r.tool_calls)
        ]
    logprobs = None
    if top is not None:
        logprobs = {
            "content": [_logprob(i, p, top) for i, p in enumerate(r.pieces)],
            "refusal": None,
        }
    finish = _chat_finish(r)
    return encode(
        {
            "id": "chatcmpl-" + rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": i, "message": message, "logprobs": logprobs, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": _chat_usage(r),
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        }
    )


def chat_frames(
    rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]
) -> list[bytes]:
    n = body.get("n")
    n = n if isinstance(n, int) and n > 0 else 1
    opts = body.get("stream_options")
    usage = isinstance(opts, dict) and opts.get("include_usage") is True
    top = _logprob_opts(body)
    head = (
        b'data: {"id":"chatcmpl-'
        + rid.encode()
        + b'","object":"chat.completion.chunk","created":'
        + str(created).encode()
        + b',"model":'
        + encode(model)
        + b',"service_tier":"default","system_fingerprint":"fp_mock","choices":['
    )
    tail = b'],"usage":null}\n\n' if usage else b"]}\n\n"
    frames: list[bytes] = []
    idx = [b'{"index":' + str(i).encode() + b',"delta":' for i in range(n)]
    first = b'{"role":"assistant","content":"","refusal":null}'
    if r.tool_calls:
        first = b'{"role":"assistant","content":null,"refusal":null}'
    for c in range(n):
        frames.append(head + idx[c] + first + b',"logprobs":null,"finish_reason":null}' + tail)
    if r.refusal:
        for i, word in enumerate(r.refusal.split(" ")):
            enc = encode(word if i == 0 else " " + word)
            for c in range(n):
                frames.append(
                    head
                    + idx[c]
                    + b'{"refusal":'
                    + enc
                    + b'},"logprobs":null,"finish_reason":null}'
                    + tail
                )
    for i, piece in enumerate(r.pieces):
        enc = encode(piece)
        lp = (
            b"null"
            if top is None
            else encode({"content": [_logprob(i, piece, top)], "refusal": None})
        )
        for c in range(n):
            frames.append(
                head
                + idx[c]
                + b'{"content":'
                + enc
                + b'},"logprobs":'
                + lp
                + b',"finish_reason":null}'
                + tail
            )
    for t, call in enumerate(r.tool_calls):
        start = encode(
            {
                "index": t,
                "id": f"call_{rid}_{t}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        )
        for c in range(n):
            frames.append(
                head
                + idx[c]
                + b'{"tool_calls":['
                + start
                + b']},"logprobs":null,"finish_reason":null}'
                + tail
            )
        for piece in call.pieces:
            delta = encode({"index": t, "function": {"arguments": piece}})
            for c in range(n):
                frames.append(
                    head
                    + idx[c]
                    + b'{"tool_calls":['
                    + delta
                    + b']},"logprobs":null,"finish_reason":null}'
                    + tail
                )
    finish = encode(_chat_finish(r))
    for c in range(n):
        frames.append(head + idx[c] + b'{},"logprobs":null,"finish_reason":' + finish + b"}" + tail)
    if usage:
        frames.append(head + b'],"usage":' + encode(_chat_usage(r)) + b"}\n\n")
    frames.append(DONE)
    return frames
