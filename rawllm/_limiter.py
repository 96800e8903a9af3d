"""The asyncio shell over ``_ratelimit.Pacer``: one FIFO queue, one waker timer, slots.

Shaped on aiolimiter's ``leakybucket.py`` (``__slots__``, one ``TimerHandle``
waker, cancelled futures dropped, a ``__repr__`` with live state), with the
clock passed in and the accounting kept in the pure ``Pacer``.  Why the
queue is not an ``aiolimiter.AsyncLimiter``: see docs/rate-limits.md.
What the server's answers teach and which path ``acquire`` takes (free,
slots only, paced) live in ``_limiter_answers``; the shared store's calls in
``_limiter_store``; loops in several threads in ``_loopshare``.

Invariants:
- waiters are served strictly first in, first out; whether the head may
  start never depends on its size (see ``_ratelimit``), so nobody starves;
- budget is committed only when a waiter is granted; a waiter cancelled
  before it was granted consumed nothing, and one cancelled after being
  granted but before it resumed gives its start and slot back;
- at most one timer is armed, for the head of the queue;
- with no ``RateLimit`` and no pressure learned from the server,
  ``acquire()`` returns a shared no-op permit without suspending;
- one loop at a time (the usual case): no lock, one identity check per call.
  Loops in several threads at once: the budget (slots, pacing, what was
  learned) stays shared under one lock; each waiter is resolved in its own
  loop (``call_soon_threadsafe``) and the timer runs in the head waiter's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ._config import RateLimit
from ._limiter_answers import arm_now, learn_from, queue_full, update_mode
from ._limiter_store import reserve, spawn
from ._loopshare import acquire_shared, bind, grant, track
from ._permit import NOOP, UNPACED, LimiterState, NoopPermit, Permit, RateStore
from ._ratelimit import Pacer
from ._tokens import DEFAULT_COMPLETION_TOKENS, Estimate, UsageRatio, estimate_tokens, uncapped

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "Limiter",
    "LimiterState",
    "Permit",
    "RateStore",
    "estimate_tokens",
]

_NOLOCK = contextlib.nullcontext()


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
        ...     limiter.observe(status, headers, permit)
        ... finally:
        ...     permit.release()
    """

    __slots__ = (
        "_adaptive",
        "_answers",
        "_clock",
        "_config",
        "_estimator",
        "_free",
        "_check_at",
        "_look_at",
        "_free_answers",
        "_free_starts",
        "_free_until",
        "_in_flight",
        "_lock",
        "_loop",
        "_max",
        "_paced",
        "_pacer",
        "_pinned",
        "_probing",
        "_reserving",
        "_rng",
        "_slots_only",
        "_seen_cap",
        "_anthropic_headers",
        "_seen_limits",
        "_slowed",
        "_store",
        "_store_down_until",
        "_switch_seen",
        "_switching",
        "_tasks",
        "_usage",
        "_waiters",
        "_waker",
        "_waker_at",
        "_waker_loop",
        "_wall",
        "__weakref__",
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
        self._adaptive = True
        if config is not None:
            rpm, tpm = config.requests_per_minute, config.tokens_per_minute
            self._max = config.max_concurrency
            self._store = config.store
            self._adaptive = config.adaptive
            if config.estimator is not None:
                self._estimator = config.estimator
        self._pacer = Pacer(rpm, tpm, adaptive=self._adaptive)
        # No limits configured but a RateLimit given: the first call probes
        # the server's limit headers before the others go.
        self._probing = (
            config is not None
            and self._adaptive
            and rpm is None
            and tpm is None
            and config.store is None
        )
        # Nothing of ours to enforce: free unless the server makes us slow down.
        self._slots_only = self._max is None and self._store is None
        self._pinned = False  # paced by a configured or learned budget (never unpaced again)
        self._slowed = False  # a slowdown was logged and its recovery not yet
        self._free = False
        self._paced = False
        self._free = False
        self._in_flight = 0
        self._free_starts = 0
        self._free_answers = 0  # answers to free-path calls that reached _slot_of
        self._check_at = math.inf  # starts at which standby learned limits are checked
        self._look_at = -math.inf  # when the next answer's remaining headers are looked at
        self._free_until: float | None = None  # when the free path was last left
        self._seen_limits: tuple[str | None, str | None] = (None, None)
        self._seen_cap: str | None = None  # the last stated cap on calls in flight, as sent
        self._anthropic_headers = False  # the last rate headers were Anthropic's
        self._answers = 0
        self._waiters: deque[tuple[asyncio.Future[Permit], int]] = deque()
        self._waker: asyncio.TimerHandle | None = None
        self._waker_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None  # None once shared by threads
        self._waker_loop: asyncio.AbstractEventLoop | None = None
        self._lock: threading.RLock | None = None  # set when loops in two threads meet
        self._switching: asyncio.AbstractEventLoop | None = None
        self._switch_seen: list[bool] = []
        track(self)
        self._reserving = False
        self._store_down_until = -math.inf
        self._tasks: set[asyncio.Task[Any]] = set()
        self._usage = UsageRatio()
        update_mode(self, 0.0)

    # -- estimates -------------------------------------------------------

    @property
    def wants_tokens(self) -> bool:
        """Whether token estimates matter now (a token budget is configured, learned or shared).

        When False the caller may pass ``tokens=0`` and skip estimating.
        """
        return self._pacer.paces_tokens or self._store is not None

    def estimate(self, body: Mapping[str, Any]) -> int:
        """Token estimate for ``body``, or 0 when no token budget is in force (cheap path).

        Example:
            >>> permit = await limiter.acquire(limiter.estimate(body))
        """
        if not self.wants_tokens:
            return 0
        raw = self._estimator(body)
        if not uncapped(body):
            return raw
        est = Estimate(self._usage.scale(raw))  # rescaled when granted, learned from usage
        est.raw = raw
        return est

    # -- acquiring -------------------------------------------------------

    def free_permit(self) -> Permit | None:
        """The shared no-op permit when nothing limits (no clock, no await), else None.

        The attempt loop tries this first and awaits ``acquire`` only on None:
        on the free path a call then creates no coroutine for the limiter.
        """
        if self._free:
            n = self._free_starts = self._free_starts + 1
            if n + self._pacer.starts < self._check_at or not arm_now(self):
                return NOOP  # type: ignore[return-value]
            self._free_starts = n - 1  # it starts on the paced path instead
        return None

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
            permit = self.free_permit()
            if permit is not None:
                return permit
        loop = asyncio.get_running_loop()
        if loop is not self._loop and bind(self, loop):
            return await acquire_shared(self, loop, tokens)
        if not self._waiters and self._store is None and self._slot_free():
            if not self._paced:  # slots only: no clock, no accounting
                pacer = self._pacer
                pacer.starts += 1
                if self._free_starts + pacer.starts >= self._check_at:
                    arm_now(self)
                self._in_flight += 1
                return Permit(self, tokens, UNPACED, None, self._in_flight)
            now = self._clock()
            if self._pacer.delay(now) <= 0.0:
                return self._start(tokens, now)
        fut: asyncio.Future[Permit] = loop.create_future()
        self._waiters.append((fut, tokens))
        if len(self._waiters) == 1:
            self._wake()
        try:
            return await fut
        except asyncio.CancelledError:
            self._forget(fut)
            raise

    def _forget(self, fut: asyncio.Future[Permit]) -> None:
        """A waiter was cancelled: give back what it was granted, or pass the turn on."""
        lock = self._lock
        with lock if lock is not None else _NOLOCK:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._give_back(fut.result())
            elif self._waiters and self._waiters[0][0] is fut:
                self._wake()

    def _wake_locked(self) -> None:
        lock = self._lock
        with lock if lock is not None else _NOLOCK:
            self._wake()

    def _slot_free(self) -> bool:
        n = self._in_flight
        if self._probing and n:
            return False
        window = self._pacer.congestion.window
        if window is not None and n >= window:
            return False
        return self._max is None or n < self._max

    def _start(self, tokens: int, now: float, pace: bool = True, shared: Any = None) -> Permit:
        """Commit one start; an uncapped body's estimate is scaled by the usage learned so far."""
        guess = getattr(tokens, "raw", 0)
        cost = self._usage.scale(guess) if guess else tokens
        self._in_flight += 1
        pacer = self._pacer
        permit = Permit(self, cost, pacer.start(cost, now, pace), shared, self._in_flight)
        permit.raw = guess
        if self._free_starts + pacer.starts >= self._check_at:  # waiters granted in a row
            arm_now(self)
        return permit

    def free_slot(self) -> None:
        """A permit was released: its slot goes to the next waiter."""
        lock = self._lock
        if lock is not None:
            with lock:
                self._in_flight -= 1
                if self._waiters:
                    self._wake()
            return
        self._in_flight -= 1
        if self._waiters:
            self._wake()

    def _give_back(self, permit: Permit) -> None:
        receipt = permit.take_shared()
        if receipt is not None and self._store is not None:
            spawn(self, self._store.refund(receipt))
        self._pacer.unstart(permit.receipt, self._clock())
        permit.release()
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Grant the head of the queue if it may start, else arm one timer for it."""
        waiters = self._waiters
        pacer = self._pacer
        while waiters:
            fut, cost = waiters[0]
            if fut.done() or (self._loop is None and fut.get_loop().is_closed()):
                waiters.popleft()  # cancelled while waiting (or its loop is gone): no cost
                continue
            if not self._slot_free():
                return  # a release() wakes us
            now = self._clock()
            if self._store is not None and now >= self._store_down_until:
                d = pacer.pause_delay(now)
                if d <= 0.0:
                    if not self._reserving:
                        self._reserving = True
                        spawn(self, reserve(self, fut, cost))
                    return
            else:
                d = pacer.delay(now)
                if d <= 0.0:
                    waiters.popleft()
                    if self._loop is None:
                        grant(self, fut, self._start(cost, now))
                    else:
                        fut.set_result(self._start(cost, now))
                    continue
            self._arm(now, d)
            return

    def _arm(self, now: float, delay: float) -> None:
        """Have ``_wake`` run after ``delay``: keep an armed timer that comes no later."""
        at = now + delay
        loop = self._loop
        shared = loop is None
        if loop is None:  # shared by threads: the head waiter's loop runs its timer
            if not self._waiters:
                return
            loop = self._waiters[0][0].get_loop()
        waker = self._waker
        if waker is not None:
            if self._waker_at <= at and self._waker_loop is loop:
                return  # it wakes us in time (a little early at worst: we re-arm then)
            waker.cancel()
            self._waker = None
        if shared and loop is not asyncio._get_running_loop():
            try:  # arm it from inside that loop (call_later is not thread-safe)
                loop.call_soon_threadsafe(self._wake_locked)
            except RuntimeError:  # closed: its waiter is dropped at the next wake
                pass
            return
        self._waker_at = at
        self._waker_loop = loop
        self._waker = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        lock = self._lock
        if lock is None:  # (no context manager: this runs once per paced start)
            self._waker = None
            self._wake()
            return
        with lock:
            self._waker = None
            self._wake()

    def correct(self, estimate: int, actual: int, started: float, raw: int = 0) -> None:
        """A permit's real usage is known: refund or charge the difference.

        A refund frees budget at once: the head of the queue is re-examined
        (its timer re-armed) so waiters start without waiting out the old
        schedule.
        """
        lock = self._lock
        if lock is None:  # (no context manager: this runs once per answer with usage)
            self._correct(estimate, actual, started, raw)
            return
        with lock:
            self._correct(estimate, actual, started, raw)

    def _correct(self, estimate: int, actual: int, started: float, raw: int) -> None:
        now = self._clock()
        pacer = self._pacer
        if raw:
            self._usage.observe(raw, actual)
        sooner = pacer.settle(estimate, actual, now, None if started == -math.inf else started)
        if sooner and self._waiters and (self._loop is not None or self._lock is not None):
            self._wake()
        store = self._store
        if store is not None and now >= self._store_down_until:
            trate = pacer.token_rate(now)
            if trate is not None:
                try:
                    spawn(self, store.adjust(actual - estimate, trate * 60.0))
                except RuntimeError:  # no running loop (settled from sync code)
                    pass

    # -- what the server says --------------------------------------------

    def observe(
        self, status: int, headers: Mapping[str, str], permit: Permit | NoopPermit | None = None
    ) -> None:
        """Learn from one response: rate-limit headers, the accepted rate, 429 / 529.

        Cheap when the response carries no rate-limit headers.

        Args:
            status: the HTTP status.
            headers: the response headers (case-insensitive mapping).
            permit: the permit the request was sent under (its start time
                groups the refusals of one event).
        """
        lock = self._lock
        if lock is not None:
            with lock:
                learn_from(self, status, headers, permit)
            return
        learn_from(self, status, headers, permit)

    def queue_full(self, headers: Mapping[str, str], permit: Permit | NoopPermit | None) -> None:
        """The answer ``observe`` saw was a full queue's 503 (Ollama, read from its body):
        a refusal for too many calls in flight, handled as a 429 that states no wait."""
        lock = self._lock
        with lock if lock is not None else _NOLOCK:
            queue_full(self, headers, permit)

    # -- reading ---------------------------------------------------------

    @property
    def state(self) -> LimiterState:
        """A frozen snapshot of the limiter (for logs and progress displays)."""
        lock = self._lock
        with lock if lock is not None else _NOLOCK:
            return self._snapshot()

    def _snapshot(self) -> LimiterState:
        now = self._clock()
        p = self._pacer
        rate = p.request_rate(now)
        trate = p.token_rate(now)
        paused = p.pause_delay(now)
        return LimiterState(
            in_flight=self._in_flight,
            waiting=sum(1 for fut, _ in self._waiters if not fut.done()),
            max_concurrency=self._max,
            paused_for=paused,
            next_start_in=p.delay(now),
            requests_per_minute=None if rate is None else rate * 60.0,
            tokens_per_minute=None if trate is None else trate * 60.0,
            learned_requests_per_minute=p.learned_rpm,
            learned_tokens_per_minute=p.learned_tpm,
            learned_max_concurrency=p.congestion.stated or None,
            rate_factor=p.factor(now),
            token_backlog=p.token_backlog(now),
            started=p.starts,
            rate_limited=p.penalties,
            probing=self._probing,
            store_available=now >= self._store_down_until,
            adaptive=self._adaptive,
            accepted_per_second=p.congestion.accepted.value(now),
            slowdowns=p.congestion.events,
            reason=p.reason if (p.slowed or paused > 0.0) else None,
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
        if s.reason:
            parts.append(f"slowed by {s.reason!r}")
        return f"<Limiter {' '.join(parts)}>"
