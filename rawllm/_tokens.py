"""Pure knowledge of request bodies: how many tokens a request will cost, estimated before sending.

A token budget is charged when a request starts, before its real usage is
known, so the cost is estimated from the body and corrected from the
response's ``usage`` afterwards (``Pacer.settle``).  The estimate only needs
to be in the right range; overestimating by the completion cap is the safe
side (the provider charges ``max_tokens`` up front too: OpenAI and Azure
count prompt + ``max_tokens`` against TPM when the request arrives).

Invariants: pure (no IO, no clock); never raises on odd bodies; returns >= 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_COMPLETION_TOKENS", "estimate_tokens"]

DEFAULT_COMPLETION_TOKENS = 1024
"""Completion tokens assumed when a request sets no ``max_tokens``-style cap."""


def _text_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        n = 0
        for part in value:
            if isinstance(part, str):
                n += len(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    n += len(text)
                elif part.get("type") in ("image_url", "image", "input_image"):
                    n += 340  # ~85 tokens, a low-detail image
                else:
                    content = part.get("content")
                    if content is not None:
                        n += _text_len(content)
        return n
    if isinstance(value, Mapping):
        return _text_len(value.get("content")) + len(str(value.get("tool_calls") or ""))
    return 0


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """Estimate a request's token cost before sending it: prompt + completion cap.

    The prompt is counted as characters / 4 over ``messages``, ``input``,
    ``system`` and ``tools`` (plus 4 per message); the completion as
    ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens``, or
    ``DEFAULT_COMPLETION_TOKENS`` when none is given.  It is corrected from
    the response's ``usage`` afterwards, so it only needs to be in the right
    range.  ``RateLimit(estimator=...)`` replaces it.

    Args:
        body: the request's JSON body as a mapping.

    Returns:
        Estimated tokens (>= 1).

    Example:
        >>> estimate_tokens({"messages": [{"role": "user", "content": "x" * 400}],
        ...                  "max_tokens": 100})
        205
    """
    chars = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in messages:
            chars += _text_len(m) + 16
    inp = body.get("input")
    if inp is not None:
        chars += _text_len(inp) if not isinstance(inp, Mapping) else len(str(inp))
    system = body.get("system")
    if system is not None:
        chars += _text_len(system)
    tools = body.get("tools")
    if tools:
        chars += len(str(tools))
    cap = body.get("max_completion_tokens")
    if cap is None:
        cap = body.get("max_tokens")
        if cap is None:
            cap = body.get("max_output_tokens")
    completion = cap if isinstance(cap, int) and cap >= 0 else DEFAULT_COMPLETION_TOKENS
    return max(1, chars // 4 + completion)
