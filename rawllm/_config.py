"""Frozen configuration values: Timeout, PoolLimits, RateLimit, and the NOT_GIVEN sentinel.

Invariants: every value here is immutable and hashable-free of IO; nothing in
this module imports aiohttp or asyncio.  ``NOT_GIVEN`` separates "use the
client's default" from an explicit ``None`` (as httpx's ``USE_CLIENT_DEFAULT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

if TYPE_CHECKING:
    pass

__all__ = ["NOT_GIVEN", "NotGiven", "PoolLimits", "RateLimit", "Timeout", "coerce_timeout"]


class NotGiven:
    """Sentinel type for "argument not given: use the default".

    Example:
        >>> client.with_options(timeout=NOT_GIVEN)  # keeps the client's timeout
    """

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a call may take, piece by piece.

    Args:
        connect: TCP + TLS connect, seconds.
        read: longest wait for the next bytes from the server.
        total: deadline for the whole call, retries and backoff sleeps included.
        first_event: streams only: longest wait for the first data event.
        event_idle: streams only: longest gap between data events (comments
            and pings do not reset it).

    Every one of them raises ``rawllm.APITimeoutError`` saying which fired.

    Example:
        >>> rawllm.OpenAI(timeout=rawllm.Timeout(connect=2, read=30, total=120))
    """

    connect: float | None = 5.0
    read: float | None = 600.0
    total: float | None = None
    first_event: float | None = None
    event_idle: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total", "first_event", "event_idle"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"Timeout.{name} must be a positive number or None, got {value!r}")


def coerce_timeout(value: Timeout | float | int | None) -> Timeout:
    """Turn a user's ``timeout=`` into a Timeout: a number means ``Timeout(total=number)``."""
    if isinstance(value, Timeout):
        return value
    if value is None:
        return Timeout()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a rawllm.Timeout or a number, got {type(value).__name__}")
    return Timeout(total=float(value))


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """Connection pool settings for the client's aiohttp connector.

    Args:
        max_connections: open connections at once across all hosts (0 = no limit).
        max_connections_per_host: open connections to one host (0 = no limit).
        keepalive_timeout: seconds an idle connection is kept for reuse.
        dns_cache_ttl: seconds a DNS answer is cached (None = forever).

    The defaults suit thousands of concurrent calls to one provider: the
    limit on calls in flight belongs to ``RateLimit.max_concurrency``, not
    to the pool, so that waiting happens in rawllm's fair queue.

    Example:
        >>> rawllm.OpenAI(pool=rawllm.PoolLimits(max_connections=200))
    """

    max_connections: int = 1000
    max_connections_per_host: int = 0
    keepalive_timeout: float = 30.0
    dns_cache_ttl: int | None = 300


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A client-wide budget of requests, tokens and calls in flight.

    Args:
        requests_per_minute: request starts per minute, spaced evenly.
        tokens_per_minute: prompt + completion tokens per minute (estimated
            before sending, corrected from ``usage``).
        max_concurrency: calls in flight at once; a stream holds its slot until closed.
        store: where the budget lives: None for this process, or a
            ``rawllm.RedisStore`` shared by every process using its key.
        estimator: optional ``callable(body: dict) -> int`` replacing the
            built-in token estimate.
        adaptive: True (default) also follows what the server says: limits
            learned from rate-limit headers, and a slowdown after 429s that is
            relative to what the server was accepting and recovers.  False
            obeys only the numbers given here and the waits a 429 states
            itself (``Retry-After``); nothing is learned.

    Example:
        >>> rawllm.OpenAI(rate_limit=rawllm.RateLimit(requests_per_minute=600, max_concurrency=64))
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_concurrency: int | None = None
    store: Any = None
    estimator: Any = None
    adaptive: bool = True

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute", "max_concurrency"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"RateLimit.{name} must be positive or None, got {value!r}")
