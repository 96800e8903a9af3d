"""Pure reading of what a server says about its rate limits: headers and 429 waits.

Formats (as providers document them):
- OpenAI / Azure / Groq / vLLM-style ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``,
  resets as Go durations (``"1s"``, ``"6m0s"``, ``"20ms"``): the time until the budget is
  *full* again, not until the next unit;
- Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
  remaining,reset}``, resets as RFC 3339 times;
- ``retry-after-ms`` (Azure, OpenAI) and ``Retry-After`` (seconds or an HTTP date);
- servers capping calls in flight: LiteLLM's ``x-ratelimit-api_key-limit-max_parallel_requests``
  on successes and ``rate_limit_type: max_parallel_requests`` on its 429s, Ollama's full-queue
  503 (``"... maximum pending requests exceeded"``, recognised by its body only).

Invariants: nothing here reads a clock (``wall`` epoch seconds are passed in), nothing
imports asyncio or aiohttp; a value that does not parse is treated as absent, never raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = [
    "DEFAULT_PAUSE",
    "MAX_PAUSE",
    "PARALLEL_LIMIT",
    "RateInfo",
    "concurrency_refusal",
    "explicit_wait",
    "parse_duration",
    "parse_reset",
    "parse_rfc3339",
    "parallel_cap",
    "pause_after_429",
    "queue_full",
    "read_rate_headers",
    "retry_after",
]

DEFAULT_PAUSE = 1.0
"""Pause after a 429 that says nothing about when to come back."""
MAX_PAUSE = 60.0
"""Longest shared pause: beyond this the server's own 429s are the faster answer."""

PARALLEL_LIMIT = "x-ratelimit-api_key-limit-max_parallel_requests"
"""LiteLLM v3's advertised cap on the key's calls in flight: ``async_post_call_success_hook``
of ``parallel_request_limiter_v3.py`` sets ``x-ratelimit-{descriptor}-limit-{type}`` (and
``-remaining-``) on non-streaming successes; only the ``api_key`` descriptor has a
``max_parallel_requests`` limit.  Streams' headers are sent before that hook runs."""
_QUEUE_FULL = b"maximum pending requests exceeded"
"""Ollama's ``ErrMaxQueue`` (``server/sched.go``: "server busy, please try again.  maximum
pending requests exceeded"), answered 503 by ``handleScheduleError`` (``server/routes.go``)
in every route's error shape (PR #4144)."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))$"
)


def parse_duration(text: str) -> float | None:
    """Parse a Go-style duration (OpenAI's reset headers) or plain seconds.

    Args:
        text: ``"6m0s"``, ``"7.66s"``, ``"120ms"``, ``"1h2m3.5s"``, ``"20"``, ``"0.5"``.

    Returns:
        Seconds (>= 0), or None when the text is not a duration.

    Example:
        >>> parse_duration("1m30.5s")
        90.5
    """
    s = text.strip()
    if not s:
        return None
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        return None
    return total


def parse_rfc3339(text: str) -> float | None:
    """Parse an RFC 3339 timestamp (Anthropic's reset headers) to epoch seconds.

    Any number of fractional digits is accepted (``datetime.fromisoformat`` on
    3.10 takes only 3 or 6).

    Args:
        text: e.g. ``"2026-11-22T04:30:15Z"`` or ``"2026-11-22T04:30:15.5+01:00"``.

    Returns:
        Epoch seconds, or None when the text is not RFC 3339.

    Example:
        >>> parse_rfc3339("1970-01-01T00:01:00Z")
        60.0
    """
    m = _RFC3339.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second <= 60):
        return None
    days = _days_from_civil(year, month, day)
    value = float(days * 86400 + hour * 3600 + minute * 60 + second)
    if m.group(7):
        value += float("0." + m.group(7))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        value -= offset if m.group(9) == "+" else -offset
    return value


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_reset(text: str, wall: float) -> float | None:
    """Seconds from now until a reset given as a duration, seconds or an RFC 3339 time.

    Args:
        text: a ``*-reset-*`` header value.
        wall: the current epoch time (for absolute timestamps).

    Returns:
        Seconds to wait (>= 0), or None when unparseable.

    Example:
        >>> parse_reset("7.66s", wall=0.0)
        7.66
    """
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    at = parse_rfc3339(text)
    if at is None:
        return None
    return max(0.0, at - wall)


def concurrency_refusal(headers: Mapping[str, str]) -> bool:
    """Whether a 429 says it refused a call for too many in flight, not for a rate.

    LiteLLM's proxy (``parallel_request_limiter_v3``) answers a
    ``max_parallel_requests`` overflow with 429, ``rate_limit_type:
    max_parallel_requests`` and ``retry-after: 60`` (its rate window, the same
    for every limit type).

    Example:
        >>> concurrency_refusal({"rate_limit_type": "max_parallel_requests"})
        True
    """
    kind = headers.get("rate_limit_type")
    return kind is not None and kind.strip().lower() == "max_parallel_requests"


def parallel_cap(value: str) -> int | None:
    """The calls in flight a ``PARALLEL_LIMIT`` header allows (None: not a whole number >= 1).

    Example:
        >>> parallel_cap("16"), parallel_cap("0"), parallel_cap("x")
        (16, None, None)
    """
    v = value.strip()
    if not v.isdigit() or not v.isascii():
        return None
    n = int(v)
    return n if n >= 1 else None


def queue_full(body: bytes) -> bool:
    """Whether a 503's body is Ollama's refusal for a full queue (``OLLAMA_MAX_QUEUE``).

    Only that message counts: a 503 from any other server (a proxy, a load
    balancer, an overloaded upstream) says nothing about concurrency.

    Example:
        >>> queue_full(b'{"error":"server busy, please try again.  '
        ...            b'maximum pending requests exceeded"}')
        True
    """
    return body.find(_QUEUE_FULL, 0, 2048) >= 0


def retry_after(headers: Mapping[str, str], wall: float) -> float | None:
    """``retry-after-ms``, then ``Retry-After`` (seconds or an HTTP date); None when absent."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if math.isfinite(value) and value >= 0:
            return value
    ra = headers.get("retry-after")
    if ra is None:
        return None
    ra = ra.strip()
    try:
        value = float(ra)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(ra).timestamp() - wall)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return value if math.isfinite(value) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class RateInfo:
    """What a response's rate-limit headers said (None = not sent).

    ``*_reset`` are seconds from the response.  For Anthropic, tokens are the
    most restrictive of ``tokens``, ``input-tokens`` and ``output-tokens``.
    """

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None


def _num(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _reset(headers: Mapping[str, str], name: str, wall: float) -> float | None:
    raw = headers.get(name)
    return None if raw is None else parse_reset(raw, wall)


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def read_rate_headers(
    headers: Mapping[str, str], wall: float, all_resets: bool = True
) -> RateInfo | None:
    """Read ``x-ratelimit-*`` (OpenAI style) and ``anthropic-ratelimit-*`` headers.

    Args:
        headers: a case-insensitive mapping (aiohttp's CIMultiDictProxy) or a
            dict with lower-case names.
        wall: current epoch seconds, for RFC 3339 resets.
        all_resets: False parses a reset only where its budget is exhausted
            (all that ``Pacer.learn`` uses; the cheap path for 2xx answers).

    Returns:
        A RateInfo, or None when the response carried no rate-limit headers.
        OpenAI-style headers win; Anthropic's are read only when those are absent.

    Example:
        >>> read_rate_headers({"x-ratelimit-remaining-requests": "0",
        ...                    "x-ratelimit-reset-requests": "1s"}, 0.0).reset_requests
        1.0
    """
    lr = _num(headers, "x-ratelimit-limit-requests")
    rr = _num(headers, "x-ratelimit-remaining-requests")
    lt = _num(headers, "x-ratelimit-limit-tokens")
    rt = _num(headers, "x-ratelimit-remaining-tokens")
    sr = st = None
    if lr is not None or rr is not None or lt is not None or rt is not None:
        if all_resets or (rr is not None and rr < 1):
            sr = _reset(headers, "x-ratelimit-reset-requests", wall)
        if all_resets or (rt is not None and rt < 1):
            st = _reset(headers, "x-ratelimit-reset-tokens", wall)
        return RateInfo(lr, rr, sr, lt, rt, st)
    prefix = "anthropic-ratelimit-requests"
    lr = _num(headers, prefix + "-limit")
    rr = _num(headers, prefix + "-remaining")
    if all_resets or (rr is not None and rr < 1):
        sr = _reset(headers, prefix + "-reset", wall)
    for kind in ("tokens", "input-tokens", "output-tokens"):
        prefix = "anthropic-ratelimit-" + kind
        remaining = _num(headers, prefix + "-remaining")
        limit = _num(headers, prefix + "-limit")
        if remaining is None and limit is None:
            continue
        lt = _min(lt, limit)
        if remaining is not None and (rt is None or remaining < rt):
            rt = remaining
            if all_resets or remaining < 1:
                st = _reset(headers, prefix + "-reset", wall)
        elif remaining == 0:
            # another kind is also exhausted: wait for the later reset
            st = _max_none(st, _reset(headers, prefix + "-reset", wall))
    if lr is None and rr is None and lt is None and rt is None:
        return None
    return RateInfo(lr, rr, sr, lt, rt, st)


def _max_none(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def explicit_wait(headers: Mapping[str, str], wall: float, info: RateInfo | None) -> float | None:
    """The wait a 429 states itself, in seconds, or None when it states none.

    Order: ``retry-after-ms``, ``Retry-After``, then the reset of an exhausted
    (``remaining == 0``) request or token budget, then any reset; capped at
    ``MAX_PAUSE``.  A refusal for concurrency that says so (LiteLLM's
    ``rate_limit_type: max_parallel_requests``) states none: its
    ``Retry-After`` is the proxy's rate window, not when a slot frees.

    Example:
        >>> explicit_wait({"retry-after": "2"}, 0.0, None)
        2.0
    """
    if concurrency_refusal(headers):
        return None
    pause = retry_after(headers, wall)
    if pause is None and info is not None:
        exhausted = [
            reset
            for remaining, reset in (
                (info.remaining_requests, info.reset_requests),
                (info.remaining_tokens, info.reset_tokens),
            )
            if remaining is not None and remaining < 1 and reset is not None
        ]
        if exhausted:
            pause = max(exhausted)
        else:
            resets = [r for r in (info.reset_requests, info.reset_tokens) if r is not None]
            pause = min(resets) if resets else None
    return None if pause is None else min(pause, MAX_PAUSE)


def pause_after_429(
    headers: Mapping[str, str], wall: float, info: RateInfo | None, default: float = DEFAULT_PAUSE
) -> float:
    """How long a 429 closes the shared gate, in seconds (before jitter).

    ``explicit_wait``, else ``default``; capped at ``MAX_PAUSE``.

    Example:
        >>> pause_after_429({"retry-after": "2"}, 0.0, None)
        2.0
    """
    pause = explicit_wait(headers, wall, info)
    return min(default, MAX_PAUSE) if pause is None else pause
