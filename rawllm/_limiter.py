"""The asyncio shell over ``_ratelimit.Pacer``: one FIFO queue, one waker timer, slots.

Shaped on aiolimiter's ``leakybucket.py`` (``__slots__``, one ``TimerHandle``
waker, cancelled futures dropped, a ``__repr__`` with live state), with the
clock passed in and the accounting kept in the pure ``Pacer``.  Why the
queue is not an ``aiolimiter.AsyncLimiter``: see docs/rate-limits.md.

Invariants:
- waiters are served strictly first in, first out; whether the head may
  start never depends on its size (see ``_ratelimit``), so nobody starves;
- budget is committed only when a waiter is granted; a waiter cancelled
  before it was granted consumed nothing, and one cancelled after being
  granted but before it resumed gives its start and slot back;
- at most one timer is armed, for the head of the queue;
- with no ``RateLimit`` and no pressure learned from the server,
  ``acquire()`` returns a shared no-op permit without suspending.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._config import RateLimit
from ._ratelimit import Pacer, pause_after_429, read_rate_headers

__all__ = ["Limiter", "LimiterState", "Permit", "RateStore", "estimate_tokens"]

logger = logging.getLogger("rawllm")

DEFAULT_COMPLETION_TOKENS = 1024
"""Completion tokens assumed when a request sets no ``max_tokens``-style cap."""
_STORE_RETRY = 5.0  # seconds before a store that failed (fail-open) is tried again


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
        rate_factor: multiplier after 429s (1.0 = full configured speed).
        token_backlog: tokens committed beyond now (the token budget's debt).
        started: request starts granted so far.
        rate_limited: 429 responses seen.
        probing: True while the first call probes the server's limits.
        store_available: False while a fail-open store is being bypassed.
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


class _NoopPermit:
    """The shared permit handed out when nothing is limited."""

    __slots__ = ()

    def settle(self, actual_tokens: int) -> None:
        """Nothing to correct."""

    def release(self) -> None:
        """Nothing to free."""

    def __repr__(self) -> str:
        return "<Permit (unlimited)>"


_NOOP = _NoopPermit()
_UNPACED = (0, 0.0, 0.0, -math.inf)  # receipt of a start nothing paced


class Permit:
    """The right to send one request: holds a concurrency slot until released.

    Example:
        >>> permit = await limiter.acquire(estimate)
        >>> try: ...  # send, read
        ... finally: permit.release()
        >>> permit.settle(usage_total_tokens)
    """

    __slots__ = ("_cost", "_limiter", "_receipt", "_released", "_shared")

    def __init__(
        self, limiter: Limiter, cost: int, receipt: tuple[int, float, float, float]
    ) -> None:
        self._limiter = limiter
        self._cost = cost
        self._receipt = receipt
        self._released = False
        self._shared: Any = None  # the store's receipt, when a store granted it

    def settle(self, actual_tokens: int) -> None:
        """Correct the token estimate from the response's usage (refund or extra debit).

        May be called after ``release()``; calling it again corrects relative to
        the last value given.
        """
        if actual_tokens < 0 or actual_tokens == self._cost:
            return
        self._limiter._settle(self._cost, actual_tokens, self._receipt[3])
        self._cost = actual_tokens

    def release(self) -> None:
        """Free the concurrency slot; idempotent."""
        if self._released:
            return
        self._released = True
        lim = self._limiter
        lim._in_flight -= 1
        if lim._waiters:
            lim._wake()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<Permit tokens={self._cost} {state}>"


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


class Limiter:
    """The client-wide gate every attempt passes: slots, pause, request and token pacing.

    Args:
        config: the client's ``RateLimit``, or None (then it only follows
            what the server's headers and 429s say).
        clock: monotonic seconds (injectable for tests).
        wall: epoch seconds, for absolute reset times in headers.
        rng: randomness for the reopening jitter.

    Example:
        >>> limiter = Limiter(RateLimit(requests_per_minute=600, max_concurrency=64))
        >>> permit = await limiter.acquire(estimate_tokens(body))
        >>> try:
        ...     status, headers = ...  # send
        ...     limiter.observe(status, headers)
        ... finally:
        ...     permit.release()
    """

    __slots__ = (
        "_accepted",
        "_accepted_since",
        "_clock",
        "_config",
        "_estimator",
        "_free",
        "_in_flight",
        "_loop",
        "_max",
        "_paced",
        "_pacer",
        "_probing",
        "_reserving",
        "_rng",
        "_store",
        "_store_down_until",
        "_tasks",
        "_waiters",
        "_waker",
        "_wall",
    )

    def __init__(
        self,
        config: RateLimit | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._wall = wall
        self._rng = rng if rng is not None else random.Random()
        rpm = tpm = None
        self._max: int | None = None
        self._store: RateStore | None = None
        self._estimator: Callable[[Mapping[str, Any]], int] = estimate_tokens
        if config is not None:
            rpm, tpm = config.requests_per_minute, config.tokens_per_minute
            self._max = config.max_concurrency
            self._store = config.store
            if config.estimator is not None:
                self._estimator = config.estimator
        self._pacer = Pacer(rpm, tpm)
        self._paced = self._pacer.active
        # No limits configured but a RateLimit given: the first call probes
        # the server's limit headers before the others go.
        self._probing = config is not None and rpm is None and tpm is None and config.store is None
        self._free = config is None
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.Future[Permit], int]] = deque()
        self._waker: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reserving = False
        self._store_down_until = -math.inf
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accepted = 0
        self._accepted_since: float | None = None

    # -- estimates -------------------------------------------------------

    @property
    def wants_tokens(self) -> bool:
        """Whether token estimates matter now (a token budget is configured, learned or shared).

        When False the caller may pass ``tokens=0`` and skip estimating.
        """
        return not self._free and (self._pacer.paces_tokens or self._store is not None)

    def estimate(self, body: Mapping[str, Any]) -> int:
        """Token estimate for ``body``, or 0 when no token budget is in force (cheap path).

        Example:
            >>> permit = await limiter.acquire(limiter.estimate(body))
        """
        if not self.wants_tokens:
            return 0
        return self._estimator(body)

    # -- acquiring -------------------------------------------------------

    async def acquire(self, tokens: int) -> Permit:
        """Wait until one request of ``tokens`` estimated tokens may start.

        Waits for a concurrency slot, the server's pause, request spacing and
        the token budget, in FIFO order with every other caller.  A caller
        cancelled while waiting consumes nothing.

        Args:
            tokens: the request's estimated token cost (``estimate_tokens``).

        Returns:
            A Permit: ``release()`` it when the response (or stream) is done,
            ``settle()`` it with the real usage.

        Raises:
            APIConnectionError: a fail-closed ``RedisStore`` is unreachable.
        """
        if self._free:
            return _NOOP  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        if not self._waiters and self._store is None and self._slot_free():
            if not self._paced:  # slots only: no clock, no accounting
                self._pacer.starts += 1
                self._in_flight += 1
                return Permit(self, tokens, _UNPACED)
            now = self._clock()
            if self._pacer.delay(now) <= 0.0:
                return self._grant(tokens, self._pacer.start(tokens, now))
        fut: asyncio.Future[Permit] = loop.create_future()
        self._waiters.append((fut, tokens))
        if len(self._waiters) == 1:
            self._wake()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._give_back(fut.result())
            elif self._waiters and self._waiters[0][0] is fut:
                self._wake()
            raise

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """First use, or reuse from a new event loop: waiters of the old loop are dropped."""
        if self._waker is not None:
            self._waker.cancel()
            self._waker = None
        self._waiters.clear()
        self._reserving = False
        self._loop = loop

    def _slot_free(self) -> bool:
        if self._probing and self._in_flight:
            return False
        return self._max is None or self._in_flight < self._max

    def _grant(self, cost: int, receipt: tuple[int, float, float, float]) -> Permit:
        self._in_flight += 1
        return Permit(self, cost, receipt)

    def _give_back(self, permit: Permit) -> None:
        receipt, permit._shared = permit._shared, None
        if receipt is not None and self._store is not None:
            self._spawn(self._store.refund(receipt))
        self._pacer.unstart(permit._receipt, self._clock())
        permit.release()
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Grant the head of the queue if it may start, else arm one timer for it."""
        waker, self._waker = self._waker, None
        if waker is not None:
            waker.cancel()
        waiters = self._waiters
        pacer = self._pacer
        while waiters:
            fut, cost = waiters[0]
            if fut.done():  # cancelled while waiting: consumed nothing
                waiters.popleft()
                continue
            if not self._slot_free():
                return  # a release() wakes us
            now = self._clock()
            if self._store is not None and now >= self._store_down_until:
                d = pacer.pause_delay(now)
                if d <= 0.0:
                    if not self._reserving:
                        self._reserving = True
                        self._spawn(self._reserve(fut, cost))
                    return
            else:
                d = pacer.delay(now)
                if d <= 0.0:
                    waiters.popleft()
                    fut.set_result(self._grant(cost, pacer.start(cost, now)))
                    continue
            loop = self._loop
            assert loop is not None
            self._waker = loop.call_later(d, self._wake)
            return

    async def _reserve(self, fut: asyncio.Future[Permit], cost: int) -> None:
        """Ask the shared store for the head's start (one request to it at a time)."""
        store = self._store
        assert store is not None
        pacer = self._pacer
        now = self._clock()
        rate = pacer.request_rate(now)
        trate = pacer.token_rate(now)
        try:
            answer = await store.reserve(
                cost, None if rate is None else rate * 60.0, None if trate is None else trate * 60.0
            )
        except Exception as exc:  # fail closed: this waiter gets the error
            self._reserving = False
            if self._waiters and self._waiters[0][0] is fut:
                self._waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)
            self._wake()
            return
        self._reserving = False
        if answer is None:  # fail open: local pacing only, for a while
            self._store_down_until = self._clock() + _STORE_RETRY
            self._wake()
            return
        wait, receipt = answer
        if wait > 0.0:
            if self._waker is not None:
                self._waker.cancel()
            loop = self._loop
            assert loop is not None
            self._waker = loop.call_later(wait, self._wake)
            return
        if fut.done() or not self._waiters or self._waiters[0][0] is not fut:
            if receipt is not None:
                await store.refund(receipt)
            self._wake()
            return
        self._waiters.popleft()
        permit = self._grant(cost, pacer.start(cost, self._clock(), pace=False))
        permit._shared = receipt
        fut.set_result(permit)
        self._wake()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("rawllm: rate-limit store call failed: %r", task.exception())

    def _settle(self, estimate: int, actual: int, started: float) -> None:
        now = self._clock()
        self._pacer.settle(estimate, actual, now, started)
        store = self._store
        if store is not None and now >= self._store_down_until:
            trate = self._pacer.token_rate(now)
            if trate is not None:
                try:
                    self._spawn(store.adjust(actual - estimate, trate * 60.0))
                except RuntimeError:  # no running loop (settled from sync code)
                    pass

    # -- what the server says --------------------------------------------

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from one response: a 429 pauses everyone; rate-limit headers are followed.

        Cheap when the response carries no rate-limit headers.

        Args:
            status: the HTTP status.
            headers: the response headers (case-insensitive mapping).
        """
        if status != 429:
            self._accepted += 1
            if self._accepted_since is None:
                self._accepted_since = self._clock()
            if (
                headers.get("x-ratelimit-remaining-requests") is None
                and headers.get("anthropic-ratelimit-requests-remaining") is None
                and headers.get("x-ratelimit-remaining-tokens") is None
            ):
                if self._probing:
                    self._end_probe()
                return
        now = self._clock()
        wall = self._wall()
        info = read_rate_headers(headers, wall, status == 429)
        pacer = self._pacer
        if info is not None:
            pacer.learn(info, now)
        if status == 429:
            pause = pause_after_429(headers, wall, info)
            accepted = None
            if self._accepted_since is not None:
                accepted = self._accepted / max(1.0, now - self._accepted_since)
            pacer.penalize(pause, now, self._rng.random(), accepted)
            self._accepted = 0
            self._accepted_since = None
            if self._store is not None and now >= self._store_down_until:
                try:
                    self._spawn(self._store.pause(pacer.paused_until - now))
                except RuntimeError:
                    pass
        if pacer.active:
            self._free = False
            self._paced = True
        if self._probing:  # ended only now, so that what was learned paces the others
            self._end_probe()
        elif self._waiters:
            self._wake()

    def _end_probe(self) -> None:
        self._probing = False
        if self._max is None and self._store is None and not self._pacer.active:
            self._free = True
        if self._waiters:
            self._wake()

    # -- reading ---------------------------------------------------------

    @property
    def state(self) -> LimiterState:
        """A frozen snapshot of the limiter (for logs and progress displays)."""
        now = self._clock()
        p = self._pacer
        rate = p.request_rate(now)
        trate = p.token_rate(now)
        return LimiterState(
            in_flight=self._in_flight,
            waiting=sum(1 for fut, _ in self._waiters if not fut.done()),
            max_concurrency=self._max,
            paused_for=p.pause_delay(now),
            next_start_in=p.delay(now),
            requests_per_minute=None if rate is None else rate * 60.0,
            tokens_per_minute=None if trate is None else trate * 60.0,
            learned_requests_per_minute=p.learned_rpm,
            learned_tokens_per_minute=p.learned_tpm,
            rate_factor=p.factor(now),
            token_backlog=p.token_backlog(now),
            started=p.starts,
            rate_limited=p.penalties,
            probing=self._probing,
            store_available=now >= self._store_down_until,
        )

    def __repr__(self) -> str:
        s = self.state
        parts = [f"in_flight={s.in_flight}", f"waiting={s.waiting}"]
        if s.requests_per_minute is not None:
            parts.append(f"rpm={s.requests_per_minute:.1f}")
        if s.tokens_per_minute is not None:
            parts.append(f"tpm={s.tokens_per_minute:.0f}")
        if s.paused_for:
            parts.append(f"paused {s.paused_for:.3f}s")
        if s.rate_limited:
            parts.append(f"429s={s.rate_limited}")
        return f"<Limiter {' '.join(parts)}>"
