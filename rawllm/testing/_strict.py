"""The strict provider's rate limits (``rpm``/``tpm``): budget debits, headers, 429 answers.

Pure: the caller passes the clocks (``now`` monotonic, ``wall`` epoch seconds).
Headers follow each provider: OpenAI ``x-ratelimit-{limit,remaining,reset}-*``
(reset as a duration, e.g. ``6m0s``), Anthropic ``anthropic-ratelimit-*-*``
(reset as an RFC 3339 time); a refusal carries ``retry-after`` (and OpenAI's
``retry-after-ms``).
"""

from __future__ import annotations

import math

from . import _faults
from ._enforce import Budget
from ._errors import error_body

__all__ = ["debit", "refusal_body", "refusal_headers"]


def debit(
    buckets: tuple[Budget | None, Budget | None],
    anthropic: bool,
    cost: int,
    now: float,
    wall: float,
    charge_rejected: bool = False,
) -> tuple[dict[str, str], float, str]:
    """Debit the strict budget; return (headers, retry wait or 0, which budget refused).

    ``charge_rejected``: a refused request is debited too (as OpenAI counts
    unsuccessful requests against the per-minute limit).
    """
    req_b, tok_b = buckets
    wait_r = req_b.wait_for(1, now) if req_b else 0.0
    wait_t = tok_b.wait_for(cost, now) if tok_b else 0.0
    wait = max(wait_r, wait_t)
    if wait == 0.0 or charge_rejected:
        if req_b:
            req_b.take(1)
        if tok_b:
            tok_b.take(cost)
    headers: dict[str, str] = {}
    for name, b in (("requests", req_b), ("tokens", tok_b)):
        if b is None:
            continue
        if anthropic:
            headers[f"anthropic-ratelimit-{name}-limit"] = str(int(b.limit))
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(b.remaining(now))
            headers[f"anthropic-ratelimit-{name}-reset"] = _faults.format_rfc3339(
                wall + b.reset_in(now)
            )
        else:
            headers[f"x-ratelimit-limit-{name}"] = str(int(b.limit))
            headers[f"x-ratelimit-remaining-{name}"] = str(b.remaining(now))
            headers[f"x-ratelimit-reset-{name}"] = _faults.format_duration(b.reset_in(now))
    return headers, wait, ("requests" if wait_r >= wait_t else "tokens")


def refusal_headers(anthropic: bool, wait: float) -> dict[str, str]:
    """The retry hints of a 429 after a refusal that clears in ``wait`` seconds."""
    headers = {"retry-after": str(max(1, math.ceil(wait)))}
    if not anthropic:
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
    return headers


def refusal_body(
    anthropic: bool, which: str, limit: int, cost: int, wait: float, used: int | None = None
) -> bytes:
    """The provider's 429 body when the ``which`` budget (``requests``/``tokens``) refused.

    OpenAI's reads "Rate limit reached for MODEL in organization ORG on requests
    per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit
    https://platform.openai.com/account/rate-limits to learn more." with
    ``type`` ``requests``/``tokens`` and ``code`` ``rate_limit_exceeded``;
    Anthropic's is a ``rate_limit_error``.
    """
    if anthropic:
        msg = (
            f"This request would exceed the rate limit for your organization of {limit} "
            f"{'requests' if which == 'requests' else 'tokens'} per minute. "
            "For details, refer to: https://docs.claude.com/en/api/rate-limits."
        )
    else:
        short = "requests per min (RPM)" if which == "requests" else "tokens per min (TPM)"
        used_part = "" if used is None else f"Used {used}, "
        msg = (
            f"Rate limit reached for default-model in organization org-mock on {short}: "
            f"Limit {limit}, {used_part}Requested {1 if which == 'requests' else cost}. "
            f"Please try again in {_faults.format_duration(wait)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
    body = error_body(anthropic, 429, msg)
    if not anthropic and which == "tokens":
        body = body.replace(b'"type":"requests"', b'"type":"tokens"')
    return body
