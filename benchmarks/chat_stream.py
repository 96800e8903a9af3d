"""A realistic OpenAI ``chat.completion.chunk`` SSE stream, as bytes, for benchmarks.

The shape follows what api.openai.com sends for ``stream=True`` with
``stream_options={"include_usage": true}``: a role chunk first, content
deltas of real token sizes (mostly 1-8 characters, some non-ASCII), a finish
chunk, a usage chunk with empty ``choices``, then ``data: [DONE]``.  Events
are separated by a blank line and use LF only, like the real service.

The content is generated from a fixed seed, so every run and every benchmark
that imports this module decodes the very same bytes.
"""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["chat_stream", "chunked"]

# Token-shaped pieces, weighted towards short English sub-words as real
# tokenizers produce them, with some punctuation, newlines and non-ASCII.
_TOKENS = (
    " the",
    " of",
    " and",
    " to",
    " a",
    " in",
    " is",
    " that",
    " for",
    " it",
    " stream",
    "ing",
    " decoder",
    " event",
    " server",
    " bytes",
    " line",
    "s",
    ".",
    ",",
    ":",
    " (",
    ")",
    "\n\n",
    "\n",
    "-",
    " `",
    "`",
    "**",
    " Python",
    " async",
    " client",
    " fast",
    " latency",
    " tokens",
    " per",
    " second",
    " response",
    " model",
    " caf\u00e9",
    " na\u00efve",
    " \u2014",
    " \u00fcber",
    " \u65e5\u672c",
    "\u8a9e",
    " \U0001f680",
    " r\u00e9sum\u00e9",
    " 42",
    " 3",
    ".14",
    " JSON",
    ' {"',
    "key",
    '":',
    ' "',
    "value",
    '"}',
)


def _chunk(
    completion_id: str, created: int, delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish},
        ],
        "usage": None,
    }


def _encode(obj: Any) -> bytes:
    # Compact separators and raw UTF-8, as the service sends them.
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return b"data: " + text.encode("utf-8") + b"\n\n"


def chat_stream(n_chunks: int = 200, seed: int = 1234) -> bytes:
    """Return the bytes of a realistic ``n_chunks``-chunk chat completion SSE stream.

    Args:
        n_chunks: number of ``chat.completion.chunk`` events (at least 3: the
            role chunk, the finish chunk and the usage chunk), not counting
            the final ``data: [DONE]``.
        seed: seed of the token picker; the default gives the canonical stream.

    Returns:
        The whole response body, ``n_chunks + 1`` events in all.

    Example:
        >>> body = chat_stream()
        >>> body.endswith(b"data: [DONE]\\n\\n")
        True
    """
    if n_chunks < 3:
        raise ValueError("n_chunks must be at least 3")
    rng = random.Random(seed)
    completion_id = "chatcmpl-AWq8ZpN3tXc7bKfLr0vYd2hGm5eJs"
    created = 1732250000
    out = [
        _encode(
            _chunk(
                completion_id, created, {"role": "assistant", "content": "", "refusal": None}, None
            )
        )
    ]
    completion_tokens = 0
    for _ in range(n_chunks - 3):
        token = rng.choice(_TOKENS)
        completion_tokens += 1
        out.append(_encode(_chunk(completion_id, created, {"content": token}, None)))
    out.append(_encode(_chunk(completion_id, created, {}, "stop")))
    usage = {
        "prompt_tokens": 38,
        "completion_tokens": completion_tokens,
        "total_tokens": 38 + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    last = _chunk(completion_id, created, {}, None)
    last["choices"] = []
    last["usage"] = usage
    out.append(_encode(last))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def chunked(body: bytes, size: int) -> list[bytes]:
    """Split ``body`` into pieces of ``size`` bytes (the last one may be shorter).

    Args:
        body: the bytes to split.
        size: piece size in bytes, at least 1.

    Returns:
        The pieces, in order; joining them gives ``body`` back.

    Example:
        >>> chunked(b"abcde", 2)
        [b'ab', b'cd', b'e']
    """
    return [body[i : i + size] for i in range(0, len(body), size)]
