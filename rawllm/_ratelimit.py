"""Pure rate-limit accounting: request and token pacing, the shared pause, learned limits.

Spec: the "Rate limits" sections of API.md.  Request starts are paced by GCRA
(the Generic Cell Rate Algorithm, ITU-T I.371 "virtual scheduling") with
emission interval ``T = 1 / rate`` and *no* burst tolerance; tokens are paced
the same way with a per-token interval, paid when the request starts and
corrected when its usage is known.  Header parsing lives in
``_ratelimit_headers``, adaptation to refusals in ``_congestion``, token
estimates in ``_tokens``.

The rate in force is the lowest of: the budget (the configured one, or the
one learned from headers less ``LEARNED_HEADROOM`` when the server advertises
less than was configured or nothing was), and the congestion cap after a
refusal.  Which rule answers which provider behaviour:

- per-minute limits enforced over ~1 s windows (OpenAI: "60,000 RPM may be
  enforced as 1,000 requests per second"; Azure: 1 s or 10 s windows): starts
  are spaced evenly, learned limits are paced ``LEARNED_HEADROOM`` under the
  advertised number, and the first learned pace counts the calls already in
  flight (no burst at t = 0);
- learned limits far above what the client sends stand by (``NEAR``): they
  pace nothing, so a client well under its budget pays nothing for it, until
  its own starts in the last second or the server's ``remaining`` show more
  than ``NEAR`` of the budget in use; then they pace from that moment, with
  the starts of that second charged;
- ``remaining`` / ``reset`` headers only slow down: ``remaining < 1`` pauses
  until one second's worth of the budget has come back; a high ``remaining``
  is never a licence to burst;
- a 429 or 529: see ``_congestion`` (adaptive) or only its stated wait
  (``adaptive=False``).

Invariants:
- nothing here reads a clock or an RNG: ``now`` (monotonic seconds) and
  ``wall`` (epoch seconds) are passed in; no asyncio, no aiohttp;
- two committed starts are always at least one emission interval apart, so in
  any *closed* one-second window at most ``floor(rate) + 1 <= ceil(rpm / 60) + 1``
  requests start;
- whether a request may start never depends on its own size (the token
  budget is paid on start and may go into debt), so a strict FIFO queue
  neither starves big requests nor blocks small ones behind a size check.
"""

from __future__ import annotations

import math

from ._congestion import Congestion
from ._ratelimit_headers import (
    DEFAULT_PAUSE,
    MAX_PAUSE,
    RateInfo,
    explicit_wait,
    parse_duration,
    parse_reset,
    parse_rfc3339,
    pause_after_429,
    read_rate_headers,
)

__all__ = [
    "CATCH_UP",
    "DEFAULT_PAUSE",
    "LEARNED_HEADROOM",
    "MAX_CATCH_UP",
    "MAX_PAUSE",
    "NEAR",
    "Pacer",
    "RateInfo",
    "explicit_wait",
    "parse_duration",
    "parse_reset",
    "parse_rfc3339",
    "pause_after_429",
    "read_rate_headers",
]

LEARNED_HEADROOM = 0.02
"""Limits learned from headers are paced at ``limit * (1 - LEARNED_HEADROOM)``: per-minute
limits are enforced over shorter windows, and header values are rounded.  Evenly spaced
starts at exactly the limit (a configured budget) draw about one 429 per 1,000 calls
from 1 s windows of 100 (bench_goodput ``window``); 2% under it, none.  (4% before:
the learned runs' floor was then 1.04x their ideal.)"""
CATCH_UP = 0.5
"""A start that comes late by up to ``CATCH_UP`` of an interval (at most ``MAX_CATCH_UP``
seconds) does not push the schedule back: timer and network lateness do not
accumulate into lost budget.  Because the slack is below one interval, the
one-second window bound still holds (see ``Pacer.start``)."""
MAX_CATCH_UP = 0.05
NEAR = 0.4
"""A learned limit paces once more than this share of it is in use: the client's starts in
one second above ``NEAR`` of the per-second budget, or the server's ``remaining`` below
``1 - NEAR`` of the limit.  Any one-second span then holds at most ``2 * NEAR`` of the
budget before pacing starts, and the second that armed it is charged to the schedule."""

Receipt = tuple[int, float, float, float]
"""``(seq, request_step, token_step, started)``: what ``unstart`` needs to take a start back."""


def _budget(configured: float | None, learned: float | None) -> float | None:
    """The budget in force: a configured one is the user's pace, and a learned one (the
    server's advertised limit less ``LEARNED_HEADROOM``) replaces it only when the server
    advertises less than it (a tier below what was configured, a budget halved)."""
    if learned is None:
        return configured
    if configured is None or learned < configured * (1.0 - LEARNED_HEADROOM):
        return learned
    return configured


def _below(value: str | None, threshold: int) -> bool:
    """Whether a ``remaining`` header is under ``threshold`` (unparsable: no)."""
    if value is None or threshold < 0:
        return False
    try:
        return float(value) < threshold
    except ValueError:
        return False


class Pacer:
    """GCRA pacing of requests and tokens, a shared pause, learned limits and 429 adaptation.

    All times are monotonic seconds passed by the caller.  ``delay(now)``
    says how long until the next start may happen; ``start()`` commits one
    and returns what ``unstart()`` needs to take it back.

    Args:
        requests_per_minute: configured request budget, or None.
        tokens_per_minute: configured token budget, or None.
        adaptive: False obeys only the configured numbers and the waits a
            429 states itself; nothing is learned and nothing is cut.

    Example:
        >>> p = Pacer(requests_per_minute=600)
        >>> p.delay(0.0), p.start(1, 0.0) is not None, p.delay(0.0)
        (0.0, True, 0.1)
    """

    __slots__ = (
        "_base",
        "_binding",
        "_gauge_n0",
        "_gauge_t0",
        "_near_requests",
        "_near_rr",
        "_near_rt",
        "_last_seq",
        "_req_tat",
        "_seq",
        "_tok_tat",
        "adaptive",
        "armed",
        "congestion",
        "learned_rpm",
        "learned_tpm",
        "paused_until",
        "penalties",
        "reason",
        "rpm",
        "starts",
        "tpm",
    )

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        adaptive: bool = True,
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.adaptive = adaptive
        self.learned_rpm: float | None = None
        self.learned_tpm: float | None = None
        self.congestion = Congestion()
        self.paused_until = -math.inf
        self.penalties = 0
        self.starts = 0
        self.reason: str | None = None
        self._req_tat = -math.inf
        self._tok_tat = -math.inf
        self._seq = 0
        self._last_seq = -1
        self._base: float | None = None  # requests per second from rpm / learned_rpm
        self._binding = False  # the last paced start followed its predecessor's schedule
        self.armed = False  # learned limits pace (see NEAR)
        self._near_requests = math.inf  # starts in one second that arm them
        self._near_rr = -1  # remaining requests / tokens below which they arm
        self._near_rt = -1
        self._gauge_t0 = -math.inf
        self._gauge_n0 = 0
        self._rebase()

    def _rebase(self) -> None:
        base = _budget(self.rpm, self.learned_rpm if self.armed else None)
        self._base = None if base is None else base / 60.0

    # -- rates -----------------------------------------------------------

    def request_rate(self, now: float) -> float | None:
        """Effective request starts per second now, or None (unpaced)."""
        base = self._base
        cong = self.congestion
        if not cong.active:
            return base
        cap = cong.cap(now)
        if cap >= cong.release_above(base):
            self._recover()
            return base
        return cap if base is None or cap < base else base

    def _recover(self) -> None:
        self.congestion.active = False
        self.congestion.release_window()
        self.reason = None

    def token_rate(self, now: float) -> float | None:
        """Effective tokens per second now, or None (unpaced)."""
        base = _budget(self.tpm, self.learned_tpm if self.armed else None)
        if base is None:
            return None
        share = self.congestion.share(now) if self.congestion.active else 1.0
        return base / 60.0 * (share if share < 1.0 else 1.0)

    def factor(self, now: float) -> float:
        """The request pace in force as a share of the configured or learned one (1.0: full)."""
        rate = self.request_rate(now)
        base = self._base
        if rate is None or base is None:
            return 1.0 if rate is None else self.congestion.share(now)
        return rate / base

    @property
    def slowed(self) -> bool:
        """Whether a refusal's cap is in force (the client runs below its budget)."""
        return self.congestion.active

    @property
    def paces_tokens(self) -> bool:
        """Whether token costs matter (a token budget is configured, or learned and armed)."""
        return self.tpm is not None or (self.armed and self.learned_tpm is not None)

    # -- starting --------------------------------------------------------

    def pause_delay(self, now: float) -> float:
        """Seconds until the shared pause (after a 429 / exhausted budget) ends."""
        d = self.paused_until - now
        return d if d > 0.0 else 0.0

    def delay(self, now: float) -> float:
        """Seconds until the next request may start (0.0: now); independent of its size."""
        at = self.paused_until
        if self._req_tat > at and (self._base is not None or self.congestion.active):
            at = self._req_tat
        if self._tok_tat > at and self.paces_tokens:
            at = self._tok_tat
        d = at - now
        return d if d > 0.0 else 0.0

    def start(self, cost: int, now: float, pace: bool = True) -> Receipt:
        """Commit one request start of ``cost`` tokens at ``now`` (caller checked ``delay``).

        ``pace=False`` only counts it (a shared store did the pacing).

        Returns:
            ``(seq, request_step, token_step, now)``, the receipt for ``unstart``.
        """
        self.starts += 1
        self._seq += 1
        if not pace:
            return (self._seq, 0.0, 0.0, now)
        # Lateness catch-up: a start at most s late moves the schedule from its
        # TAT, not from now (s < one interval T; after idle time nothing is
        # borrowed).  Every TAT is >= the previous start - s + T and TATs grow
        # by >= T, so n + 1 consecutive starts span >= n * T - s and a closed
        # one-second window holds <= floor(r * (1 + s)) + 1 <= ceil(r) + 1
        # starts (r = rate per second).
        req_step = 0.0
        rate = self.request_rate(now)
        if rate is not None:
            req_step = 1.0 / rate
            floor = now - min(req_step * CATCH_UP, MAX_CATCH_UP)
            binding = self._req_tat >= floor
            self._binding = binding
            self._req_tat = (self._req_tat if binding else now) + req_step
            self._last_seq = self._seq
        tok_step = 0.0
        if cost > 0 and self.paces_tokens:
            trate = self.token_rate(now)
            if trate is not None:
                tok_step = cost / trate
                # tokens have no one-second-window invariant: lateness up to
                # MAX_CATCH_UP never costs budget (timers run late under load)
                floor = now - MAX_CATCH_UP
                self._tok_tat = (self._tok_tat if self._tok_tat >= floor else now) + tok_step
        return (self._seq, req_step, tok_step, now)

    def unstart(self, receipt: Receipt, now: float) -> None:
        """Take back a start whose caller was cancelled before it could send.

        The request step is returned only if no later start was paced after
        it (taking it back then could put two starts closer than one interval).
        """
        seq, req_step, tok_step, _ = receipt
        self.starts -= 1
        if seq == self._last_seq and req_step:
            self._req_tat -= req_step
            self._last_seq = -1
        if tok_step:
            self._tok_tat = max(self._tok_tat - tok_step, now)

    def settle(self, estimate: int, actual: int, now: float, started: float | None = None) -> bool:
        """Correct the token budget once the real usage is known.

        A refund frees budget at once but never moves the schedule before
        ``now`` (no credit is banked, so it cannot turn into a burst).  An
        extra debit is booked as if it had been paid when the request started
        (``started``, default now): the budget refilled meanwhile, and
        charging it from now would lose that time.

        Returns:
            True when the next start may now come *earlier* (a waiter's timer
            should be re-armed).
        """
        trate = self.token_rate(now)
        if trate is None or actual == estimate:
            return False
        delta = (actual - estimate) / trate
        if delta > 0:
            since = now if started is None or started > now else started
            base = self._tok_tat if self._tok_tat > since else since
            self._tok_tat = base + delta
            return False
        before = self._tok_tat
        self._tok_tat = max(before + delta, now)
        return self._tok_tat < before

    # -- what the server says --------------------------------------------

    def learn(self, info: RateInfo, now: float, in_flight: int = 0) -> None:
        """Use a response's rate-limit headers (adaptive only).

        ``limit`` values become the learned budget, paced ``LEARNED_HEADROOM``
        under it once armed (see ``near`` and ``arm``; a limit learned while
        another learned limit already paces is in force at once).
        ``remaining < 1`` pauses until one second's worth of that budget has
        come back (``reset`` is the time to a *full* budget, so the wait is
        ``reset`` scaled to one second of it); other ``remaining`` values only
        decide when learned limits arm.

        Args:
            info: the parsed headers.
            now: monotonic seconds.
            in_flight: calls out now; when a request limit is learned while
                armed, they count against it (no burst on top of them).
        """
        if not self.adaptive:
            return
        lr = info.limit_requests
        if lr is not None and lr >= 1:
            first = self.learned_rpm is None
            before = self._base
            self.learned_rpm = lr * (1.0 - LEARNED_HEADROOM)
            self._near_requests = NEAR * self.learned_rpm / 60.0
            self._near_rr = int((1.0 - NEAR) * lr)
            self._rebase()
            if first and in_flight > 0 and self.armed:
                self._charge(now, in_flight, before)
        lt = info.limit_tokens
        if lt is not None and lt >= 1:
            self.learned_tpm = lt * (1.0 - LEARNED_HEADROOM)
            self._near_rt = int((1.0 - NEAR) * lt)
        for remaining, reset, limit in (
            (info.remaining_requests, info.reset_requests, info.limit_requests),
            (info.remaining_tokens, info.reset_tokens, info.limit_tokens),
        ):
            if remaining is not None and remaining < 1 and reset is not None:
                wait = reset
                if limit is not None and limit > remaining:
                    wait = reset * min(1.0, max(1.0, limit / 60.0) / (limit - remaining))
                until = now + min(wait, MAX_PAUSE)
                if until > self.paused_until:
                    self.paused_until = until
                    self.reason = "remaining = 0 until reset"

    @property
    def standby(self) -> bool:
        """Whether learned limits exist but do not pace yet (the client is well under them)."""
        return not self.armed and (self.learned_rpm is not None or self.learned_tpm is not None)

    def near(
        self,
        now: float,
        starts: int,
        remaining_requests: str | None = None,
        remaining_tokens: str | None = None,
    ) -> bool:
        """Whether learned limits on standby should arm (see ``NEAR``).

        Args:
            now: monotonic seconds.
            starts: every start the client made so far (a running count).
            remaining_requests, remaining_tokens: the last answer's
                ``remaining`` headers as sent (None: absent).

        Example:
            >>> p = Pacer()
            >>> p.learn(RateInfo(limit_requests=6000), 0.0)
            >>> p.near(0.1, 30), p.near(0.2, 50)  # 100 / s budget: 40 starts arm it
            (False, True)
        """
        t0 = self._gauge_t0
        if t0 == -math.inf:  # first look: every start so far counts
            self._gauge_t0 = now
        elif now - t0 >= 1.0:
            self._gauge_t0 = now
            self._gauge_n0 = starts
        if starts - self._gauge_n0 > self._near_requests:
            return True
        return _below(remaining_requests, self._near_rr) or _below(remaining_tokens, self._near_rt)

    def check_at(self) -> float:
        """The running start count at which ``near`` must be asked again (inf: never).

        Between answers the shell only compares its start count with this, so
        a burst arms the learned limits at the start that crosses it, without
        waiting for an answer and without a clock read on every start.
        """
        return self._gauge_n0 + self._near_requests if self.standby else math.inf

    def arm(self, now: float, starts: int) -> None:
        """Learned limits pace from now on; the starts counted since the gauge's window began
        are charged to the schedule, so they are not followed by a full second's budget."""
        if self.armed or not self.adaptive:
            return
        before = self._base
        self.armed = True
        self._rebase()
        self._charge(now, starts - self._gauge_n0, before)

    def _charge(self, now: float, n: int, before: float | None) -> None:
        """Book ``n`` recent starts on the request schedule, unless a budget at least as
        low as the one in force now (``before``: the one they went out under) paced them
        already (charging them again would leave a gap of ``n`` intervals)."""
        base = self._base
        if base is not None and n > 0 and (before is None or base < before):
            tat = now + n / base
            if tat > self._req_tat:
                self._req_tat = tat

    def success(self, now: float, slot: int = 0) -> None:
        """A successful answer (feeds the accepted rate and the concurrency window)."""
        self.congestion.success(now, slot)

    def refused(
        self,
        now: float,
        started: float | None,
        stated_wait: float | None,
        jitter: float,
        jitter2: float = 0.5,
        reason: str = "429",
        slot: int = 0,
    ) -> bool:
        """A 429 / 529: pause everyone and slow down (adaptive), or only wait as told.

        Args:
            now: monotonic seconds.
            started: when the refused request started (None: unknown).
            stated_wait: the wait the answer stated (see ``explicit_wait``), or None.
            jitter, jitter2: uniform random numbers in [0, 1).
            reason: a short cause for ``state`` and the logs.
            slot: the calls in flight when the refused request was sent,
                itself included (0: unknown); feeds the concurrency window.

        Returns:
            True when this refusal opened a new slowdown (for logging).
        """
        self.penalties += 1
        if not self.adaptive:
            if stated_wait is not None and now + stated_wait > self.paused_until:
                self.paused_until = now + stated_wait
                self.reason = reason
            return False
        pace = self.request_rate(now) if self._binding else None
        opened = self.congestion.refused(now, started, stated_wait, jitter, jitter2, pace, slot)
        if opened is None:
            return False
        if opened > self.paused_until:
            self.paused_until = opened
        self.reason = reason
        return True

    def token_backlog(self, now: float) -> float:
        """Tokens already committed beyond ``now`` (the budget's debt; 0 when none)."""
        trate = self.token_rate(now)
        if trate is None or self._tok_tat <= now:
            return 0.0
        return (self._tok_tat - now) * trate

    @property
    def budgeted(self) -> bool:
        """Whether a configured or learned budget paces starts (for good)."""
        return self._base is not None or self.paces_tokens

    def engaged(self, now: float) -> bool:
        """Whether any pacing or pause applies at ``now`` (False: every start is free)."""
        cong = self.congestion
        return self.budgeted or cong.active or cong.window is not None or self.paused_until > now
