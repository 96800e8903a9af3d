"""Retry policy: whether to retry a failed attempt, and how long to wait first.

Sans-IO: this module imports neither aiohttp nor asyncio and never reads a
clock or a random source itself; ``now``, ``time_left`` and ``rng`` come from
the caller, so every decision is a pure function of its arguments.  (The
``backoff`` package imports asyncio for its decorators; only its pure wait
generator ``backoff.expo`` is used here.)

Spec followed (the Retries and Timeouts sections of API.md):

* Retried: connection errors and timeouts (``status=None``), 408, 409, 429
  and every status >= 500 (529 included).  ``x-should-retry: true|false``
  overrides the status rule.  Nothing else is retried.
* Wait: the server's ``retry-after-ms`` (milliseconds), else ``Retry-After``
  (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date; fractional seconds
  tolerated), plus a small non-negative jitter.  Except on a refusal for
  concurrency that says so (LiteLLM's ``rate_limit_type:
  max_parallel_requests``): its ``Retry-After`` is the proxy's rate window
  (60 s), not when a slot frees (any call of the key ending frees one), so
  the usual backoff applies (see ``stated_wait``).  A server-asked wait above
  ``max_retry_after`` is not waited out: give up at once.  With no usable
  header: exponential backoff from ``backoff.expo`` with "equal jitter".
* Stop: after ``max_retries`` retries, and whenever the wait would reach the
  ``Timeout.total`` deadline or leave less than ``MIN_ATTEMPT_TIME`` of it.

Invariants: every wait returned is finite, >= 0, never shorter than what the
server asked (``stated_wait``), and strictly less than ``time_left``; ``None`` means "give up
now and raise the last error".
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from itertools import islice

import backoff

from ._ratelimit_headers import concurrency_refusal

__all__ = [
    "MIN_ATTEMPT_TIME",
    "RetryPolicy",
    "attempt_budget",
    "retry_after",
    "should_retry",
    "stated_wait",
]

MIN_ATTEMPT_TIME = 0.05
"""Seconds of deadline an attempt needs to be worth sending.

Below this even a keep-alive request to a nearby server cannot get its
response headers back, so a retry would only be one more timeout and one
more request for an already struggling server."""

# Jitter added on top of a server-given wait: uniform in [0, spread) with
# spread = min(_SERVER_JITTER_MAX, _SERVER_JITTER_BASE + _SERVER_JITTER_FRACTION * wait).
# Every client throttled in the same window is told the same instant; without
# jitter they all return together and trip the limit again.  10% of the wait
# (capped at 1 s, Retry-After's own resolution) spreads them out at a cost the
# caller barely notices; the 50 ms base spreads even "Retry-After: 0".
_SERVER_JITTER_BASE = 0.05
_SERVER_JITTER_FRACTION = 0.1
_SERVER_JITTER_MAX = 1.0


def _header(headers: Mapping[str, str], lower: str, title: str) -> str | None:
    # aiohttp's CIMultiDictProxy matches any case on the first lookup; a plain
    # dict is expected lower-case, and Title-Case is tolerated as a fallback.
    value = headers.get(lower)
    return headers.get(title) if value is None else value


def should_retry(status: int | None, headers: Mapping[str, str] | None) -> bool:
    """Say whether an attempt that ended this way may be retried.

    Args:
        status: the response status, or None for a connection error or timeout.
        headers: the response headers, or None when there was no response.

    Returns:
        True for a connection error or timeout and for 408, 409, 429 and
        >= 500; False for every other status.  ``x-should-retry: true`` or
        ``false`` from the server overrides the status rule.

    Example:
        >>> should_retry(429, {}), should_retry(400, {"x-should-retry": "true"})
        (True, True)
    """
    if headers is not None:
        override = _header(headers, "x-should-retry", "X-Should-Retry")
        if override is not None:
            flag = override.strip().lower()
            if flag == "true":
                return True
            if flag == "false":
                return False
    if status is None:
        return True
    return status in (408, 409, 429) or status >= 500


def _seconds(text: str, scale: float) -> float | None:
    try:
        value = float(text) * scale
    except ValueError:
        return None
    # "nan", "inf" and overflow are garbage, not instructions.
    return max(value, 0.0) if math.isfinite(value) else None


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Read the wait the server asked for, in seconds.

    ``retry-after-ms`` (float milliseconds) wins over ``Retry-After``, which
    is read as seconds (fractions tolerated) or as an HTTP date.

    Args:
        headers: the response headers.
        now: wall-clock time, epoch seconds (``time.time()``), for HTTP dates.

    Returns:
        The wait in seconds (a negative value or a date in the past gives 0),
        or None when no header is present or none can be parsed.

    Example:
        >>> retry_after({"retry-after-ms": "1500"}, now=0.0)
        1.5
    """
    ms = _header(headers, "retry-after-ms", "Retry-After-Ms")
    if ms is not None:
        wait = _seconds(ms, 0.001)
        if wait is not None:
            return wait
    value = _header(headers, "retry-after", "Retry-After")
    if value is None:
        return None
    wait = _seconds(value, 1.0)
    if wait is not None:
        return wait
    try:
        # Imported here: HTTP dates are rare and email.utils costs ~3 ms at import.
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" zone: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)


def stated_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a refusal states that means something: ``retry_after``, unless the
    refusal is for concurrency (``concurrency_refusal``): a slot frees when any
    call in flight ends, whatever the header says.

    Example:
        >>> stated_wait({"retry-after": "60", "rate_limit_type": "max_parallel_requests"}, 0.0)
        >>> stated_wait({"retry-after": "60"}, 0.0)
        60.0
    """
    if concurrency_refusal(headers):
        return None
    return retry_after(headers, now)


def _expo_steps(initial: float, cap: float) -> Iterator[float]:
    # initial, 2*initial, 4*initial, ... then cap forever.
    steps: Iterator[float] = backoff.expo(base=2, factor=initial, max_value=cap)
    next(steps)  # backoff.expo opens with a priming bare `yield` (None): skip it
    return steps


def _equal_jitter(step: float, rng: random.Random) -> float:
    # "Equal jitter": uniform in [step/2, step).  backoff.full_jitter reads the
    # global `random` module, so the same idea is applied with the injected rng;
    # half the step is kept so that no two waits in a row can be near 0 s.
    half = step * 0.5
    return half + half * rng.random()


def attempt_budget(timeout_total: float | None, deadline: float | None, now: float) -> float | None:
    """Seconds the next attempt may take under ``Timeout.total``.

    Args:
        timeout_total: ``Timeout.total`` in seconds, or None for no deadline.
        deadline: the absolute deadline (the caller's monotonic clock, fixed at
            the start of the call as start + total), or None if not fixed yet.
        now: the same monotonic clock, read now.

    Returns:
        What is left of the deadline (never more than ``timeout_total``), or
        None when unbounded.  A value <= 0 means the deadline has passed.

    Example:
        >>> attempt_budget(10.0, deadline=110.0, now=107.5)
        2.5
    """
    if deadline is None:
        return timeout_total
    left = deadline - now
    return left if timeout_total is None or left < timeout_total else timeout_total


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry a failed attempt and how long to wait first.

    Args:
        max_retries: retries after the first attempt (0 disables retries).
        initial_delay: the first backoff step, seconds.
        max_delay: the cap of one backoff wait, seconds.
        max_retry_after: a server-asked wait above this is not waited out:
            the error is raised at once.

    Raises:
        ValueError: on a negative count or a non-positive delay.

    Example:
        >>> RetryPolicy().decide(retries_done=0, status=429, headers={"retry-after": "2"},
        ...                      now=0.0, time_left=None, rng=random.Random(0)) >= 2.0
        True
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if not 0 < self.initial_delay <= self.max_delay:
            raise ValueError("need 0 < initial_delay <= max_delay")
        if self.max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, got {self.max_retry_after!r}")

    def decide(
        self,
        *,
        retries_done: int,
        status: int | None,
        headers: Mapping[str, str] | None,
        now: float,
        time_left: float | None,
        rng: random.Random,
    ) -> float | None:
        """Decide what to do after a failed attempt.

        Args:
            retries_done: retries already taken in this call.
            status: the response status, or None for a connection error or timeout.
            headers: the response headers, or None when there was no response.
            now: wall-clock time, epoch seconds (for Retry-After HTTP dates).
            time_left: seconds until the ``Timeout.total`` deadline, or None.
            rng: the random source for jitter.

        Returns:
            Seconds to wait before the next attempt, or None: give up now and
            raise the last error.

        Example:
            >>> RetryPolicy(max_retries=0).decide(retries_done=0, status=503, headers=None,
            ...                                   now=0.0, time_left=None, rng=random.Random())
        """
        if retries_done >= self.max_retries or not should_retry(status, headers):
            return None
        asked = None if headers is None else stated_wait(headers, now)
        if asked is not None:
            if asked > self.max_retry_after:
                return None
            spread = _SERVER_JITTER_BASE + _SERVER_JITTER_FRACTION * asked
            wait = asked + min(spread, _SERVER_JITTER_MAX) * rng.random()
        else:
            step = next(islice(_expo_steps(self.initial_delay, self.max_delay), retries_done, None))
            wait = _equal_jitter(step, rng)
        if time_left is not None and time_left - wait < MIN_ATTEMPT_TIME:
            return None  # the next attempt would start at or too near the deadline
        return wait
