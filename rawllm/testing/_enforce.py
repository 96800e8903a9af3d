"""How real servers enforce limits, beyond the strict bucket: windows, gateways, caps, changes.

Pure: no aiohttp, no asyncio, no clock reads (``now`` is passed in); randomness
comes from a seeded ``random.Random``.  Each mode reproduces a documented
provider behaviour:

- ``window``: per-minute limits enforced over sub-minute windows.  OpenAI: "Rate
  limits can be applied over shorter periods - for example, 1 request per second
  for a 60 RPM limit"; Azure OpenAI evaluates RPM over 1 s or 10 s windows (600
  RPM: more than 10 requests in a 1 s period are refused).  The headers still
  advertise the per-minute numbers and a per-minute ``remaining``/``reset``.
- ``charge_rejected``: refused requests count against the budget too (OpenAI:
  "unsuccessful requests contribute to your per-minute limit").
- ``gateway_429``: a gateway or self-hosted server (vLLM, Ollama, LiteLLM proxy,
  OpenRouter) answering 429 at random, with no ``x-ratelimit-*`` header, only a
  ``Retry-After`` (or none).
- ``max_concurrency``: a server capping requests in flight (LiteLLM's
  ``max_parallel_requests``, an inference server's queue): 429 "too many
  concurrent requests" on OpenAI routes, 529 ``overloaded_error`` on Anthropic's.
  ``concurrency_retry_after``: the refusal a LiteLLM proxy sends for its
  ``max_parallel_requests`` (``parallel_request_limiter_v3.py``): 429 on every
  route, ``retry-after: 60`` (its rate window, whatever the limit type),
  ``rate_limit_type: max_parallel_requests`` and a ``reset_at`` time.
  ``concurrency_headers``: LiteLLM v3 also states the cap on its non-streaming
  successes (``async_post_call_success_hook``):
  ``x-ratelimit-api_key-limit-max_parallel_requests: <cap>`` and
  ``x-ratelimit-api_key-remaining-max_parallel_requests: <cap - calls in flight>``;
  a stream's headers go out before that hook runs, so streams carry neither.
  ``queue_503``: Ollama with its queue full (``OLLAMA_MAX_QUEUE``, PR #4144):
  503 and ``ErrMaxQueue``'s message, ``server busy, please try again.  maximum
  pending requests exceeded``, as an ``api_error`` on its OpenAI routes and an
  ``overloaded_error`` on its Anthropic route, with no ``Retry-After``.  (Ollama
  counts the calls waiting to be scheduled, not all in flight; a client sees the
  same: too many calls at once.)
- ``change_after``/``change_factor``: the budget changes mid-run (another
  consumer on the key, a tier change): every limit is multiplied by the factor,
  and the headers advertise the new numbers from then on.

Invariant: with every mode off, ``Windowed`` is not used and the strict
``Bucket`` behaviour (continuous refill, one second of burst) is unchanged.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from ._faults import Bucket

__all__ = ["Enforcement", "Enforcer", "Windowed", "make_budget", "rescale"]


@dataclass(frozen=True, slots=True)
class Enforcement:
    """MockServer's enforcement modes (all off by default).

    Attributes:
        window: seconds; per-minute budgets are enforced over fixed windows of
            this length (``None``: the strict bucket with one second of burst).
        charge_rejected: a refused request is charged against the budget anyway.
        gateway_429: probability that a request is answered 429 without rate headers.
        gateway_retry_after: the ``Retry-After`` of those 429s (seconds; None: none sent).
        max_concurrency: requests in flight above this are refused (429 / 529).
        concurrency_retry_after: those refusals are LiteLLM's: 429 with this
            ``Retry-After`` and ``rate_limit_type: max_parallel_requests`` (None: plain).
        concurrency_headers: non-streaming successes state ``max_concurrency`` in
            LiteLLM v3's headers.
        queue_503: those refusals are Ollama's full queue: 503 ``server busy ...``.
        change_after: seconds after the first request when the budgets change.
        change_factor: the budgets' multiplier at ``change_after`` (0.5: halved).
        seed: seed of the gateway's random refusals.
    """

    window: float | None = None
    charge_rejected: bool = False
    gateway_429: float = 0.0
    gateway_retry_after: float | None = 0.2
    max_concurrency: int | None = None
    concurrency_retry_after: float | None = None
    concurrency_headers: bool = False
    queue_503: bool = False
    change_after: float | None = None
    change_factor: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window is not None and not 0 < self.window <= 60:
            raise ValueError(f"window must be in (0, 60] seconds, got {self.window!r}")
        if not 0.0 <= self.gateway_429 <= 1.0:
            raise ValueError(f"gateway_429 must be a probability, got {self.gateway_429!r}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency!r}")
        ra = self.concurrency_retry_after
        if ra is not None and not (math.isfinite(ra) and ra >= 0):
            raise ValueError(f"concurrency_retry_after must be >= 0, got {ra!r}")
        if (self.concurrency_headers or self.queue_503) and self.max_concurrency is None:
            raise ValueError("concurrency_headers and queue_503 need max_concurrency")
        if self.queue_503 and ra is not None:
            raise ValueError("queue_503 (Ollama) and concurrency_retry_after (LiteLLM) conflict")
        if self.change_factor <= 0:
            raise ValueError(f"change_factor must be > 0, got {self.change_factor!r}")

    def rng(self) -> random.Random:
        """A fresh RNG for the gateway's refusals."""
        return random.Random(self.seed)


class Windowed:
    """A per-minute budget enforced over fixed windows, reported per minute.

    A request of ``cost`` passes when its window has room for it (a window that
    is still empty always admits one request, however big) and the per-minute
    bucket (capacity one minute's budget, refilled continuously) can pay it.

    Example:
        >>> w = Windowed(600, window=1.0, now=0.0)      # 10 per 1 s window
        >>> [w.wait_for(1, 0.0) == 0.0 and not w.take(1) for _ in range(11)].count(True)
        10
    """

    __slots__ = ("_index", "_used", "allowed", "limit", "minute", "window")

    def __init__(self, per_minute: float, window: float, now: float) -> None:
        self.limit = per_minute
        self.window = window
        self.allowed = max(1.0, math.floor(per_minute * window / 60.0))
        self.minute = Bucket(per_minute, now)
        self.minute.capacity = per_minute  # a per-minute budget: remaining counts the minute
        self.minute.level = per_minute
        self._index = math.floor(now / window)
        self._used = 0.0

    def _roll(self, now: float) -> None:
        index = math.floor(now / self.window)
        if index != self._index:
            self._index = index
            self._used = 0.0

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until a request of ``cost`` would pass (0.0: it passes now)."""
        self._roll(now)
        wait = 0.0
        if self._used > 0.0 and self._used + cost > self.allowed:
            wait = (self._index + 1) * self.window - now
        return max(wait, self.minute.wait_for(cost, now))

    def take(self, cost: float) -> None:
        """Debit ``cost`` (after :meth:`wait_for` at the same ``now``)."""
        self._used += cost
        self.minute.take(cost)

    def remaining(self, now: float) -> int:
        """Whole units left in the per-minute budget."""
        return self.minute.remaining(now)

    def reset_in(self, now: float) -> float:
        """Seconds until the per-minute budget is full again."""
        return self.minute.reset_in(now)


Budget = Bucket | Windowed


def make_budget(per_minute: float | None, now: float, window: float | None) -> Budget | None:
    """The budget object for one limit (None: unlimited)."""
    if not per_minute:
        return None
    return Bucket(per_minute, now) if window is None else Windowed(per_minute, window, now)


def rescale(
    budget: Budget | None, factor: float, now: float, window: float | None
) -> Budget | None:
    """The same budget with its limit multiplied by ``factor``, keeping what was used."""
    if budget is None:
        return None
    fresh = make_budget(budget.limit * factor, now, window)
    assert fresh is not None
    if isinstance(budget, Bucket) and isinstance(fresh, Bucket):
        budget._refill(now)
        fresh.level = min(fresh.capacity, budget.level * factor)
    elif isinstance(budget, Windowed) and isinstance(fresh, Windowed):
        budget.minute._refill(now)
        fresh.minute.level = min(fresh.minute.capacity, budget.minute.level * factor)
        fresh._index, fresh._used = budget._index, budget._used
    return fresh


Refusal = tuple[int, str | None, list[tuple[str, str]] | None, str | None]
"""``(status, message, extra headers, error type)`` of an answer decided on arrival
(error type None: the provider's usual one for the status)."""
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
"""Ollama's ``ErrMaxQueue`` (``server/sched.go``), word for word."""


class Enforcer:
    """The arrival-time modes: the budget change, the concurrency cap, the gateway's 429s.

    Example:
        >>> enf = Enforcer(Enforcement(max_concurrency=2))
        >>> enf.refusal(3, anthropic=True)
        (529, None, None, None)
    """

    __slots__ = ("_changed", "_first_at", "_rng", "config")

    def __init__(self, config: Enforcement) -> None:
        self.config = config
        self._rng = config.rng()
        self._first_at: float | None = None
        self._changed = False

    def budgets(
        self, buckets: tuple[Budget | None, Budget | None], now: float
    ) -> tuple[Budget | None, Budget | None]:
        """The budgets in force at ``now`` (rescaled once ``change_after`` has passed)."""
        e = self.config
        if self._first_at is None:
            self._first_at = now
        if self._changed or e.change_after is None or now - self._first_at < e.change_after:
            return buckets
        self._changed = True
        return (
            rescale(buckets[0], e.change_factor, now, e.window),
            rescale(buckets[1], e.change_factor, now, e.window),
        )

    def refusal(self, in_flight: int, anthropic: bool, wall: float = 0.0) -> Refusal | None:
        """The refusal for a request arriving with ``in_flight`` in flight (itself included).

        ``wall`` (epoch seconds) dates LiteLLM's ``reset_at``.
        """
        e = self.config
        if e.max_concurrency is not None and in_flight > e.max_concurrency:
            ra = e.concurrency_retry_after
            if ra is not None:  # LiteLLM's proxy, whatever the route
                reset = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall + ra))
                message = (
                    "Rate limit exceeded for api_key: mock. Limit type: max_parallel_requests. "
                    f"Current limit: {e.max_concurrency}, Remaining: 0. Limit resets at: {reset}"
                )
                headers = [
                    ("retry-after", f"{ra:g}"),
                    ("rate_limit_type", "max_parallel_requests"),
                    ("reset_at", reset),
                ]
                return (429, message, headers, None)
            if e.queue_503:  # Ollama's handleScheduleError, in its compat layers' shapes
                return (503, QUEUE_FULL, None, "overloaded_error" if anthropic else "api_error")
            if anthropic:
                return (529, None, None, None)
            return (429, "Too many concurrent requests", None, None)
        if e.gateway_429 and self._rng.random() < e.gateway_429:
            extra = None
            if e.gateway_retry_after is not None:
                extra = [("retry-after", f"{e.gateway_retry_after:g}")]
            return (429, "Too Many Requests", extra, None)
        return None

    def stated(self, in_flight: int) -> dict[str, str] | None:
        """LiteLLM v3's headers on a success admitted with ``in_flight`` in flight (None: off).

        Example:
            >>> Enforcer(Enforcement(max_concurrency=4, concurrency_headers=True)).stated(1)
            {'x-ratelimit-api_key-remaining-max_parallel_requests': '3', \
'x-ratelimit-api_key-limit-max_parallel_requests': '4'}
        """
        e = self.config
        cap = e.max_concurrency
        if not e.concurrency_headers or cap is None:
            return None
        return {
            "x-ratelimit-api_key-remaining-max_parallel_requests": str(cap - in_flight),
            "x-ratelimit-api_key-limit-max_parallel_requests": str(cap),
        }
