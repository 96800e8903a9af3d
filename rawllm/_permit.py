"""What the limiter hands out and shows: permits, the state snapshot, the store protocol.

Invariants: a ``Permit`` changes the limiter only through its methods
(``free_slot``, ``correct``); the limiter reads a permit only through its
public attributes.  Nothing here does IO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._ratelimit import Receipt

if TYPE_CHECKING:
    from ._limiter import Limiter

__all__ = ["NOOP", "UNPACED", "LimiterState", "NoopPermit", "Permit", "RateStore", "maybe_low"]


class RateStore(Protocol):
    """A budget shared beyond this process (``rawllm.RedisStore``).

    ``reserve`` returns ``(0.0, receipt)`` when a start was committed,
    ``(wait, None)`` when nothing was committed and the caller should come
    back after ``wait`` seconds, or ``None`` when the store is unreachable
    and fails open; a store that fails closed raises ``APIConnectionError``.
    """

    async def reserve(
        self, cost: int, rpm: float | None, tpm: float | None
    ) -> tuple[float, Any] | None: ...

    async def refund(self, receipt: Any) -> None: ...

    async def adjust(self, tokens: int, tpm: float | None) -> None: ...

    async def pause(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class LimiterState:
    """A snapshot of a client's limiter, for logs and progress displays.

    Attributes:
        in_flight: permits held (calls sending or streaming).
        waiting: calls queued in ``acquire()``.
        max_concurrency: the configured slot count, or None.
        paused_for: seconds until the shared gate reopens (0.0: open).
        next_start_in: seconds until the next start may happen.
        requests_per_minute: the request pace in force now, or None (unpaced).
        tokens_per_minute: the token pace in force now, or None.
        learned_requests_per_minute: the request limit learned from headers
            (already less headroom), or None.
        learned_tokens_per_minute: same for tokens.
        learned_max_concurrency: the calls in flight the server says it takes
            (LiteLLM's ``x-ratelimit-api_key-limit-max_parallel_requests``), or None.
        rate_factor: the pace in force as a share of the configured or
            learned one, or of the rate the server was accepting when it
            refused (1.0 = full speed).
        token_backlog: tokens committed beyond now (the token budget's debt).
        started: request starts granted so far.
        rate_limited: refusals seen: 429, 529, and a full queue's 503 (Ollama).
        probing: True while the first call probes the server's limits.
        store_available: False while a fail-open store is being bypassed.
        adaptive: whether the limiter follows the server (``RateLimit.adaptive``).
        accepted_per_second: successful answers per second, measured (None: idle).
        slowdowns: slowdowns opened by refusals so far.
        reason: why the client runs below its budget now (e.g. ``"429 without
            rate headers"``), or None when it is not slowed or paused.
    """

    in_flight: int
    waiting: int
    max_concurrency: int | None
    paused_for: float
    next_start_in: float
    requests_per_minute: float | None
    tokens_per_minute: float | None
    learned_requests_per_minute: float | None
    learned_tokens_per_minute: float | None
    rate_factor: float
    token_backlog: float
    started: int
    rate_limited: int
    probing: bool
    store_available: bool
    adaptive: bool = True
    accepted_per_second: float | None = None
    slowdowns: int = 0
    reason: str | None = None
    learned_max_concurrency: int | None = None

    @property
    def throttled(self) -> str | None:
        """A one-line account of the slowdown, e.g. ``"pacing 12 req/s after 429 ..."``, or None."""
        if self.reason is None:
            return None
        if self.paused_for > 0.0:
            return f"paused {self.paused_for:.1f} s ({self.reason})"
        if self.requests_per_minute is not None:
            return f"pacing {self.requests_per_minute / 60.0:.3g} req/s after {self.reason}"
        return None


def maybe_low(remaining: str | None) -> bool:
    """Whether a ``remaining`` header may be below 1 (anything not starting with 1-9)."""
    return remaining is not None and not ("1" <= remaining[:1] <= "9")


class NoopPermit:
    """The shared permit handed out when nothing is limited."""

    __slots__ = ()

    started = None
    slot = 0

    def settle(self, actual_tokens: int) -> None:
        """Nothing to correct."""

    def release(self) -> None:
        """Nothing to free."""

    def __repr__(self) -> str:
        return "<Permit (unlimited)>"


NOOP = NoopPermit()
UNPACED: Receipt = (0, 0.0, 0.0, -math.inf)  # receipt of a start nothing paced


class Permit:
    """The right to send one request: holds a concurrency slot until released.

    Attributes:
        cost: the tokens this start was charged (the estimate, then the usage).
        receipt: the pacer's receipt, for taking the start back.
        shared: the shared store's receipt, when a store granted it.

    Example:
        >>> permit = await limiter.acquire(estimate)
        >>> try: ...  # send, read
        ... finally: permit.release()
        >>> permit.settle(usage_total_tokens)
    """

    __slots__ = ("_limiter", "_released", "cost", "raw", "receipt", "shared", "slot")

    def __init__(
        self, limiter: Limiter, cost: int, receipt: Receipt, shared: Any = None, slot: int = 0
    ) -> None:
        self._limiter = limiter
        self.cost = cost
        self.receipt = receipt
        self.shared = shared
        self.slot = slot  # calls in flight when it was granted, itself included
        self.raw = 0  # the caller's estimate before the learned usage ratio scaled it
        self._released = False

    @property
    def started(self) -> float | None:
        """When the start was granted (monotonic seconds), or None when nothing timed it."""
        at = self.receipt[3]
        return None if at == -math.inf else at

    def settle(self, actual_tokens: int) -> None:
        """Correct the token estimate from the response's usage (refund or extra debit).

        May be called after ``release()``; calling it again corrects relative to
        the last value given.
        """
        if actual_tokens < 0 or actual_tokens == self.cost:
            return
        self._limiter.correct(self.cost, actual_tokens, self.receipt[3], self.raw)
        self.cost = actual_tokens
        self.raw = 0  # learn from each call once

    def release(self) -> None:
        """Free the concurrency slot; idempotent."""
        if self._released:
            return
        self._released = True
        self._limiter.free_slot()

    def take_shared(self) -> Any:
        """Hand over the store's receipt (once) for a refund."""
        shared, self.shared = self.shared, None
        return shared

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<Permit tokens={self.cost} {state}>"
