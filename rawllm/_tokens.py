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

__all__ = ["DEFAULT_COMPLETION_TOKENS", "Estimate", "UsageRatio", "estimate_tokens", "uncapped"]

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


_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def uncapped(body: Mapping[str, Any]) -> bool:
    """Whether ``body`` sets no completion cap (its estimate guesses the completion)."""
    get = body.get
    for key in _CAPS:  # (a loop, not any(<genexpr>): this runs once per paced call)
        if get(key) is not None:
            return False
    return True


class Estimate(int):
    """A token estimate that remembers the unscaled guess it came from.

    Only a body without a completion cap gets one: its completion part is a
    guess (``DEFAULT_COMPLETION_TOKENS``) that usage can correct.  A body
    with ``max_tokens`` is charged that cap by providers (OpenAI and Azure
    count it against TPM when the request arrives), so its estimate is
    never scaled down.
    """

    raw: int


class UsageRatio:
    """How far estimates run from real usage, learned from settled calls.

    A body without ``max_tokens`` is estimated with ``DEFAULT_COMPLETION_TOKENS``
    of completion, often many times what the answer uses; charging that
    estimate at every start would hold a token-bound run to a fraction of its
    budget until the refunds come back.  The ratio of usage to estimate (the
    first call's taken whole, then exponentially weighted, faster down than
    up, bounded to [``LOW``, ``HIGH``]) scales later estimates of such
    bodies, so the pace converges on real usage; each call is still
    corrected from its own usage afterwards.

    Example:
        >>> r = UsageRatio()
        >>> for _ in range(30): r.observe(1000, 60)
        >>> r.scale(1000)
        60
    """

    __slots__ = ("_seen", "ratio")

    ALPHA_DOWN = 0.5
    ALPHA_UP = 0.2
    LOW = 0.02
    HIGH = 2.0

    def __init__(self) -> None:
        self.ratio = 1.0
        self._seen = False

    def observe(self, estimate: int, actual: int) -> None:
        """One call's unscaled estimate and its real usage."""
        if estimate <= 0 or actual < 0:
            return
        target = actual / estimate
        # the first call is the only evidence there is: take it whole
        alpha = 1.0 if not self._seen else self.ALPHA_DOWN if target < self.ratio else self.ALPHA_UP
        self._seen = True
        r = self.ratio + alpha * (target - self.ratio)
        self.ratio = self.LOW if r < self.LOW else self.HIGH if r > self.HIGH else r

    def scale(self, estimate: int) -> int:
        """``estimate`` corrected by what was learned (>= 1)."""
        if self.ratio == 1.0:
            return estimate
        return max(1, round(estimate * self.ratio))
