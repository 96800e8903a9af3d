"""Pure adaptation to refusals: what the server accepts, and how fast to go after a 429.

This is the part of rate control that has no number to go by: a vLLM, Ollama
or LiteLLM proxy, a gateway such as OpenRouter, answers 429 (or Anthropic's
529 ``overloaded_error``) without any ``x-ratelimit-*`` header, for a hidden
per-second limit, a cap on concurrent requests, or an upstream hiccup.  The
rules, modelled on TCP congestion control but driven by measured rates:

- **Measure from the first answer on.**  ``AcceptedRate`` is an exponentially
  weighted rate of successful answers (time constant ``TAU``), folded in
  buckets of ``BUCKET`` seconds and restarted after ``IDLE`` seconds without
  answers, so it never averages over a window that starts near zero nor over
  idle time.
- **Only a dense run of refusals is an event.**  A refusal opens an event
  only when refusals are a real share of recent answers: at least
  ``DENSE_MIN`` (and a fifth of the calls in flight) since the last event,
  and ``DENSE_SHARE`` of about the last 60 answers.  An isolated 429
  (a gateway's or an inference server's hiccup: vLLM, Ollama, LiteLLM,
  OpenRouter) never pauses nor slows the client; the refused call's own
  retry waits its ``Retry-After``.  A server whose limit is overshot refuses
  most calls beyond it, so this costs a real limit a few extra 429s.  Once
  a slowdown is in force (a limit is known to be near), any refusal after
  its cooldown opens the next event, as before.
- **One cut per congestion event, from what was accepted.**  An event: the
  whole client pauses for the server's stated wait (or
  ``HEADERLESS_PAUSE`` with jitter), then paces at ``BETA`` times the rate the
  server was accepting (never below half of it: ``BETA >= 0.5``): the
  binding pace when the measured accepted rate roughly confirms it (the pace
  is exact where the measurement lags a climbing pace), else the measured
  accepted rate; a refusal
  before anything was accepted only pauses (there is no rate to cut from).  Refusals of
  requests that started before that pause ended belong to the same event.
  For ``COOLDOWN`` seconds after the pause only the short-term density
  (``DENSE_SHARE``: a limit still overshot) opens the next event early.
- **Fast, jittered recovery.**  After the pause the pace doubles every
  ``DOUBLING`` seconds (jittered by +-20% per event, so clients sharing a
  server do not climb in step) up to ``TARGET`` of the rate that was refused,
  then probes above it by ``PROBE`` of it per second for ``PROBE_TIME``
  seconds, then accelerates again (doubling every ``ACCEL_DOUBLING``
  seconds: the old rate was an underestimate).  With no known limit,
  pacing switches off once the probe passes ``RELEASE`` times that rate; under
  a known limit, once it reaches the limit.

A server capping *concurrent* requests (a LiteLLM ``max_parallel_requests``,
an inference server's queue; 429 "too many concurrent requests" or 529) is
held by a **concurrency window** instead, an integer limit on calls in
flight (``window``), driven by each answer's *slot* (the calls the client
had in flight when it sent it, itself included).  (A LiteLLM proxy's
refusal says ``rate_limit_type: max_parallel_requests`` with ``retry-after:
60``, its rate window for every limit type: that states no wait, see
``_ratelimit_headers.concurrency_refusal``.)

- An event sets it at the most calls in flight the server accepted since
  the previous event (``found``); an event with nothing accepted yet sets it
  at the first success after it.  A burst refused together says nothing
  about rate, so such an event cuts no rate (there is none to cut from).
- Probing: ``PROBE_HOLD`` seconds after it was set the window opens one
  slot above ``found``.  A success there is a held probe: ``found`` rises
  and, while no slot was refused above it, the next probe opens at once,
  twice as wide (a window that is not the real constraint, say a rate limit
  whose first burst looked like a cap, is grown out of in a few latencies,
  and dropped at ``WINDOW_RELEASE`` times its setting).  A refusal there is
  a failed probe: the window closes back to ``found`` and the hold doubles
  (up to ``PROBE_HOLD_MAX``), with no pause, no rate cut and no event: only
  the refused call waits.
- The client counts a call until it has read the answer, the server until
  it sent it, so under load (a client loop busy with other work reads its
  answers late) a success can come a few slots above the real cap.  The
  lowest slot the window saw refused is a *ceiling*: at or above it a probe
  holds only after ``PROOF`` successes in a row there (one slot at a time,
  the hold kept), and only ``found`` ``LAG`` slots above it clears it (the
  cap rose).  Successes of calls sent under a wider window, since closed,
  count for nothing.
- Refusals at the top ``LAG`` slots, ``STRIKES`` of them and at least
  ``TOP_SHARE`` of the answers there since ``found`` was set (successes
  between do not wipe them: the lucky ones are only the client's lag),
  lower ``found`` below them; a gateway's random refusals are a smaller
  share.
- Other refusals (below the top slots) follow the event rules above.
- **A stated cap** (LiteLLM's ``x-ratelimit-api_key-limit-max_parallel_requests``
  on its successes, see ``advertise``) is not discovered: the window is set at
  it (a cap of N takes N calls), is real (never released) and never probes
  above it; a new value moves it there.  Below it the rules above still hold
  (other clients of the key share the cap, so refusals under it can happen).

Invariants: pure (``now`` and the random numbers are passed in); the pace
after an event is >= ``BETA`` * min(accepted, pace in force) >= ``MIN_RATE``;
``cap()`` is non-decreasing between events; ``window`` is None or an integer
>= 1, at most ``found`` + the probe step, and never above a stated cap
(``stated``; then never None).
"""

from __future__ import annotations

import math

__all__ = [
    "BETA",
    "COOLDOWN",
    "DOUBLING",
    "HEADERLESS_PAUSE",
    "PROBE",
    "RELEASE",
    "TARGET",
    "AcceptedRate",
    "Congestion",
]

TAU = 0.5
"""Time constant of the accepted-rate average, seconds."""
CONFIRM = 1.5
"""The binding pace is the reference when the measured accepted rate is within this factor
of it; far above what the server accepted, the measurement is."""
BUCKET = 0.1
"""Answers are counted in buckets of this many seconds before folding into the average."""
IDLE = 2.0
"""A gap without answers longer than this restarts the measurement (idle time is not a rate)."""
BETA = 0.75
"""Pace right after an event, as a share of the rate the server was accepting."""
BETA_STABLE = 0.9
"""... when the refusal came at about the rate of the previous one (within STABLE): the
limit is known well, so the cut is shallow."""
STABLE = 0.15
DOUBLING = 0.5
"""Seconds per doubling of the pace while climbing back (jittered +-20% per event)."""
TARGET = 0.95
"""The fast climb stops at this share of the rate that was refused ..."""
PROBE = 0.05
"""... then probes above it by this share of it per second."""
PROBE_TIME = 3.0
ACCEL_DOUBLING = 1.0
"""After PROBE_TIME seconds of probing without a refusal the pace doubles every
ACCEL_DOUBLING seconds again (the old rate was an underestimate, or the limit rose);
an isolated refusal while probing restarts that clock."""
RELEASE = 1.5
"""With no known limit, pacing stops when the probe passes this multiple of the refused rate."""
COOLDOWN = 2.5
"""Seconds after an event's pause during which isolated refusals do not open a new event."""
DENSE_MIN = 3
DENSE_SHARE = 0.2
DENSE_SHARE_NEAR = 0.12
SHARE_ALPHA = 0.03
"""A refusal opens an event when at least DENSE_MIN refusals (and DENSE_SHARE of the calls
in flight) came since the last event and the share of refusals among recent answers
(weighted by SHARE_ALPHA per answer, about the last 60) reaches DENSE_SHARE
(DENSE_SHARE_NEAR while a slowdown is in force: a limit is known to be near; past its
cooldown any refusal opens the next event)."""
WINDOW_RELEASE = 2.0
"""The concurrency window is dropped once ``found`` has grown to this multiple of its setting."""
PROBE_HOLD = 0.25
"""Seconds from setting the window (or a failed probe) to the next probe ..."""
PROBE_HOLD_MAX = 10.0
"""... doubling with each failed probe up to this (exponential backoff of probing)."""
LAG = 2
STRIKES = 3
TOP_SHARE = 0.05
"""STRIKES refusals in the top LAG slots of the window since ``found`` was set, and at least
TOP_SHARE of the answers there, lower ``found`` below them: the server counted calls the
client had not finished reading when it accepted a probe."""
PROOF = 4
"""At or above a slot the window saw refused, a probe holds only after PROOF successes in a
row there: the client counts a call until it has read the answer, so under load a success
can come one or two slots above the server's real cap."""
HEADERLESS_PAUSE = 0.25
"""Pause (stretched by up to 100% jitter) after a refusal that states no wait."""
JITTER = 0.1
"""A stated wait is stretched by up to 10% (at most 1 s) so clients don't reopen in step."""
_NO_SLOT = 1 << 30
MIN_RATE = 0.2
"""Starts per second: the pace never goes below this."""


class AcceptedRate:
    """Successful answers per second, exponentially weighted, measured from the first one.

    Example:
        >>> r = AcceptedRate()
        >>> for k in range(50): r.success(k * 0.02)
        >>> round(r.value(1.0))
        50
    """

    __slots__ = ("_last", "_n", "_rate", "_t0")

    def __init__(self) -> None:
        self._rate: float | None = None
        self._t0 = -math.inf
        self._n = 0
        self._last = -math.inf

    def success(self, now: float) -> None:
        """Count one successful answer at ``now``."""
        if now - self._last > IDLE:  # first answer, or after idle time: start afresh
            self._rate = None
            self._t0 = now
            self._n = 0
        self._last = now
        self._n += 1
        if now - self._t0 >= BUCKET:
            self._rate = self._fold(now)
            self._t0 = now
            self._n = 0

    def _fold(self, now: float) -> float | None:
        elapsed = now - self._t0
        if elapsed <= 0.0:
            return self._rate
        inst = self._n / elapsed
        if self._rate is None:
            return inst
        alpha = elapsed / TAU
        return self._rate + (alpha if alpha < 1.0 else 1.0) * (inst - self._rate)

    def value(self, now: float) -> float | None:
        """The accepted rate at ``now`` (answers per second), or None before any answer."""
        if now - self._last > IDLE:
            return None
        if now - self._t0 < BUCKET / 2 and self._rate is not None:
            return self._rate  # a bucket just begun says little
        return self._fold(now)


class Congestion:
    """Events opened by refusals, and the pace cap that climbs back after each.

    Args:
        (none): every input arrives through ``success``, ``refused`` and ``cap``.

    Example:
        >>> c = Congestion()
        >>> for k in range(100): c.success(k * 0.01)
        >>> until = c.refused(1.0, None, None, 0.5, 0.5, 0.0)
        >>> round(c.cap(until))  # 0.75 x the 100/s the server was accepting
        75
    """

    __slots__ = (
        "_cap0",
        "_ceiling",
        "_cooldown_end",
        "_doubling",
        "_fast_end",
        "_grow_from",
        "_fast_to",
        "_hold",
        "_low",
        "_ok_slots",
        "_pending",
        "_probe_at",
        "_proof",
        "_proved",
        "_refused_since",
        "_share",
        "_step",
        "_strikes",
        "_top_ok",
        "_window_set",
        "accepted",
        "active",
        "events",
        "found",
        "pause_end",
        "refused_at",
        "stated",
        "window",
    )

    def __init__(self) -> None:
        self.accepted = AcceptedRate()
        self.active = False
        self.events = 0
        self.pause_end = -math.inf
        self.refused_at = 0.0
        self._cap0 = 0.0
        self._grow_from = 0.0
        self._doubling = DOUBLING
        self._fast_end = 0.0
        self._cooldown_end = -math.inf
        self._refused_since = 0
        self._share = 0.0
        self._fast_to = 0.0
        self.window: int | None = None
        self.found = 0  # the most calls in flight the server is known to take
        self._window_set = 0
        self._ok_slots = 0
        self._pending = False  # an event with no slot known: set the window at a success
        self._probe_at = math.inf
        self._hold = PROBE_HOLD
        self._step = 1
        self._strikes = 0  # refusals at the top slots since found was set
        self._top_ok = 0  # successes there
        self._proof = 0  # successes in a row at or above the ceiling
        self._ceiling = 0  # the lowest slot the window saw refused (0: none)
        self._low = _NO_SLOT  # the lowest slot refused since the window was last set
        self._proved = False  # the window has refused a probe: it is a real constraint
        self.stated = 0  # the cap the server states (0: none stated)

    # -- the concurrency window ------------------------------------------

    def _set_window(self, found: int, now: float) -> None:
        stated = self.stated
        if stated and found > stated:
            found = stated
        self.window = self.found = self._window_set = found
        self._hold = PROBE_HOLD
        self._probe_at = now + PROBE_HOLD
        self._step = 1
        self._strikes = self._top_ok = self._proof = 0
        # the burst that set it was refused above what the server took: a ceiling
        low = self._low
        self._ceiling = low if found < low < _NO_SLOT else 0
        self._low = _NO_SLOT
        self._proved = stated > 0  # a stated cap is a real constraint

    def advertise(self, cap: int, now: float) -> bool:
        """The server states its cap on calls in flight: ``cap`` of them are allowed.

        The window is set at ``cap`` instead of being discovered by refusals,
        and never probes above it.  A repeated value changes nothing.

        Args:
            cap: the stated cap (>= 1).
            now: monotonic seconds.

        Returns:
            True when the window changed (waiters may have to be woken).

        Example:
            >>> c = Congestion()
            >>> c.advertise(16, 0.0), c.window, c.advertise(16, 1.0)
            (True, 16, False)
        """
        if cap == self.stated:
            return False
        self.stated = cap
        self._pending = False
        self._set_window(cap, now)
        return True

    def _close(self, now: float, backoff: bool = True) -> None:
        """A failed probe: back to ``found``, probe again after the hold (then doubled)."""
        self.window = self.found
        self._step = 1
        self._proof = 0
        self._probe_at = now + self._hold
        if backoff:
            self._hold = min(PROBE_HOLD_MAX, 2.0 * self._hold)
        self._proved = True

    def release_window(self) -> None:
        """Drop a window that never refused a probe (the slowdown it came with is over)."""
        if not self._proved:
            self.window = None
            self._pending = False

    def _window_success(self, now: float, slot: int) -> None:
        found = self.found
        window = self.window
        assert window is not None
        if found - LAG < slot <= found:
            self._top_ok += 1
        if found < slot <= window:  # a probe held (a call above ``window`` is stale)
            ceiling = self._ceiling
            if ceiling and slot >= ceiling:
                # at or above a slot the server refused: one success may be only
                # answers the client had not read yet; PROOF in a row are not
                self._proof += 1
                if self._proof < PROOF:
                    return
            self._proof = 0
            self.found = found = slot
            self._strikes = self._top_ok = 0
            if found >= WINDOW_RELEASE * self._window_set and not self.stated:
                self.window = None  # not the constraint
                return
            if ceiling and found >= ceiling + LAG:
                self._ceiling = ceiling = 0  # well above what failed: the cap rose
            if not ceiling:  # nothing refused above: probe wider at once
                self._step = min(2 * self._step, max(1, found // 2))
                self._hold = PROBE_HOLD
                self._probe_at = now
            elif now >= self._probe_at:  # near what failed: keep the hold
                self._probe_at = now + self._hold
        if now >= self._probe_at:
            top = found + self._step
            ceiling = self._ceiling
            if ceiling and top > ceiling:
                top = ceiling if ceiling > found else found + 1  # one slot at a time up there
            stated = self.stated
            if stated and top > stated:
                top = stated  # never probe past what the server says it takes
            self.window = top

    def _window_refused(self, now: float, slot: int) -> bool:
        """A refusal the window accounts for (True: no event)."""
        found = self.found
        if slot > found:  # a failed probe, or a call sent while it was open
            if self._ceiling == 0 or slot < self._ceiling:
                self._ceiling = slot
            if self.window is not None and self.window > found:
                self._close(now)
            return True
        if slot > found - LAG:
            self._strikes += 1
            if self._strikes >= STRIKES and self._strikes >= TOP_SHARE * (
                self._strikes + self._top_ok
            ):  # the cap is below found
                self.found = max(1, slot - 1)
                if self._ceiling == 0 or slot < self._ceiling:
                    self._ceiling = slot
                self._strikes = self._top_ok = 0
                self._close(now)
            return True
        return False

    # -- answers -----------------------------------------------------------

    def success(self, now: float, slot: int = 0) -> None:
        """A successful answer to a request sent as the ``slot``-th in flight (0: unknown)."""
        self.accepted.success(now)
        self._share -= SHARE_ALPHA * self._share
        if slot <= 0:
            return
        if slot > self._ok_slots:
            self._ok_slots = slot
        if self._pending:  # the first success after an event that knew no slot
            self._pending = False
            self._set_window(self._ok_slots, now)
        elif self.window is not None:
            self._window_success(now, slot)

    def refused(
        self,
        now: float,
        started: float | None,
        stated_wait: float | None,
        jitter: float,
        jitter2: float,
        pace: float | None,
        slot: int = 0,
    ) -> float | None:
        """A refusal (429 / 529).  Returns the end of a new pause, or None (no new event).

        Args:
            now: monotonic seconds.
            started: when the refused request started (None: unknown).
            stated_wait: the wait the answer stated (Retry-After, an exhausted
                budget's reset), or None.
            jitter, jitter2: uniform random numbers in [0, 1) from the caller's RNG.
            pace: the request rate the client was actually sending at (the
                pace in force while it binds), or None (unpaced, or the pace
                is above what the client sends): then the measured accepted
                rate is the reference.
            slot: the calls in flight when the refused request was sent,
                itself included (0: unknown).
        """
        if 0 < slot < self._low:
            self._low = slot
        if started is not None and started < self.pause_end:
            return None  # in flight when the event began: the same event
        if self.window is not None and slot > 0 and self._window_refused(now, slot):
            return None  # the concurrency window's probe: only this call waits
        self._refused_since += 1
        self._share += SHARE_ALPHA * (1.0 - self._share)
        # a fifth of the calls in flight, at least: refusals come back faster
        # than answers, so the first ones of a run say little on their own
        dense = self._refused_since >= max(DENSE_MIN, DENSE_SHARE * slot) and (
            self._share >= (DENSE_SHARE_NEAR if self.active else DENSE_SHARE)
        )
        if not dense and not (self.active and now >= self._cooldown_end):
            if self.active and now > self._fast_end:
                # near a limit: keep probing linearly, postpone the acceleration
                self._fast_to = self.cap(now)
                self._fast_end = now
            return None  # an isolated refusal: the call's own retry handles it
        accepted = ref = self.accepted.value(now)
        if pace is not None and (ref is None or ref <= 0.0 or pace < CONFIRM * ref):
            ref = pace  # exact, where the measurement lags a climbing pace
        prev = self.refused_at
        stable = ref is not None and prev > 0.0 and abs(ref / prev - 1.0) < STABLE
        if stated_wait is not None:
            until = now + stated_wait + min(1.0, stated_wait * JITTER) * jitter
        else:
            until = now + HEADERLESS_PAUSE * (1.0 + jitter)
        self.events += 1
        self.pause_end = until
        self._cooldown_end = until + COOLDOWN
        self._refused_since = 0
        ok = self._ok_slots
        self._ok_slots = 0
        if ok > 0:
            # the most calls in flight the server took since the last event:
            # a server capping concurrency is held just there
            if self.window is None or ok < self.found:
                proved = self._proved and self.window is not None
                self._set_window(ok, until)
                self._proved = proved  # a cap shown before is still one
        elif self.window is None:
            self._pending = True
        if ref is None or ref <= 0.0:
            # Refused before anything was answered: there is no rate to cut
            # from, so only pause; the next refusal (after the cooldown, or a
            # dense run) cuts from what was measured by then.
            return until
        self.active = True
        self.refused_at = ref
        # the fast climb stops short of what was both paced and accepted
        low = ref if accepted is None or accepted > ref else accepted
        if stable:  # shallow cut, straight to probing
            self._cap0 = max(MIN_RATE, min(BETA_STABLE * ref, TARGET * low))
        else:
            self._cap0 = max(MIN_RATE, BETA * ref)
        self._grow_from = until
        self._doubling = DOUBLING * (0.8 + 0.4 * jitter2)
        self._fast_to = max(self._cap0, TARGET * low)
        self._fast_end = until + self._doubling * math.log2(self._fast_to / self._cap0)
        return until

    def cap(self, now: float) -> float:
        """The pace cap at ``now`` (starts per second); only meaningful while ``active``."""
        if now <= self._grow_from:
            return self._cap0
        if now < self._fast_end:
            return self._cap0 * math.pow(2.0, (now - self._grow_from) / self._doubling)
        x = now - self._fast_end
        if x <= PROBE_TIME:
            return self._fast_to + self.refused_at * PROBE * x
        # no refusal for a while above the old rate: it was an underestimate
        # (or the limit went up), so speed up again
        top = self._fast_to + self.refused_at * PROBE * PROBE_TIME
        return top * math.pow(2.0, (x - PROBE_TIME) / ACCEL_DOUBLING)

    def share(self, now: float) -> float:
        """The cap as a share of the rate that was refused (1.0 when inactive)."""
        if not self.active or self.refused_at <= 0.0:
            return 1.0
        return self.cap(now) / self.refused_at

    def release_above(self, limit: float | None) -> float:
        """The cap at which the event is over: the known limit, else RELEASE x the refused rate."""
        return limit if limit is not None else RELEASE * self.refused_at
