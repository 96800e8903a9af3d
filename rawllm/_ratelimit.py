"""Pure rate-limit accounting: request pacing, token budget, penalties, header parsing.

Spec: the "Rate limits and concurrency" section of API.md.  Request starts are
paced by GCRA (the Generic Cell Rate Algorithm, ITU-T I.371 "virtual
scheduling") with emission interval ``T = 60 / rpm`` and *no* burst
tolerance; tokens are paced the same way with a per-token interval
``60 / tpm``, paid when the request starts and corrected when its usage is
known.

Invariants:
- nothing here reads a clock or an RNG: ``now`` (monotonic seconds) and
  ``wall`` (epoch seconds, for RFC 3339 / HTTP-date resets) are passed in;
  no asyncio, no aiohttp;
- two committed starts are always at least one emission interval apart, so in
  any *closed* one-second window at most ``floor(rpm / 60) + 1 <=
  ceil(rpm / 60) + 1`` requests start, and there is no burst at start-up;
- whether a request may start never depends on its own size (the token
  budget is paid on start and may go into debt), so a strict FIFO queue
  neither starves big requests nor blocks small ones behind a size check;
- a ``remaining`` header only ever *closes* the gate (``remaining == 0``
  pauses until its reset); it never opens one;
- after a 429 the rate multiplier drops to ``CUT`` and climbs back linearly,
  to a ceiling a little below the rate that was refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = [
    "CUT",
    "DEFAULT_PAUSE",
    "CATCH_UP",
    "LEARNED_HEADROOM",
    "MAX_PAUSE",
    "Pacer",
    "RateInfo",
    "parse_duration",
    "parse_rfc3339",
    "parse_reset",
    "pause_after_429",
    "read_rate_headers",
]

LEARNED_HEADROOM = 0.02
"""Limits learned from headers are paced at ``limit * (1 - LEARNED_HEADROOM)``."""
CUT = 0.5
"""Rate multiplier right after a 429 (the gate reopens at half speed)."""
RECOVERY = 10.0
"""Seconds for the multiplier to climb by 1.0 after a 429 (0.5 -> 0.95 takes 4.5 s)."""
CEILING_HEADROOM = 0.95
"""After a 429 the multiplier never climbs above 95% of its value when refused."""
MIN_FACTOR = 0.05
DEFAULT_PAUSE = 1.0
"""Pause after a 429 that says nothing about when to come back."""
MAX_PAUSE = 60.0
"""Longest shared pause: beyond this the server's own 429s are the faster answer."""
JITTER = 0.1
"""Pauses are stretched by up to 10% (at most 1 s) so that clients don't reopen in step."""
CATCH_UP = 0.5
"""A start that comes late by up to ``CATCH_UP`` of an interval (at most ``MAX_CATCH_UP``
seconds) does not push the schedule back: timer and network lateness do not
accumulate into lost budget.  Because the slack is below one interval, the
one-second window bound still holds (see ``Pacer.start``)."""
MAX_CATCH_UP = 0.05
UNKNOWN_DOUBLING = 5.0
"""With no known rate, the post-429 rate doubles every this many seconds."""
UNKNOWN_MAX_RATE = 1000.0
"""...until it passes this many starts per second, when pacing switches off again."""

# -- header parsing (pure functions) -----------------------------------------

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


def _retry_after(headers: Mapping[str, str], wall: float) -> float | None:
    """``retry-after-ms``, then ``Retry-After`` (seconds or an HTTP date)."""
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


def pause_after_429(headers: Mapping[str, str], wall: float, info: RateInfo | None) -> float:
    """How long a 429 closes the shared gate, in seconds (before jitter).

    Order: ``retry-after-ms``, ``Retry-After``, then the reset of an exhausted
    (``remaining == 0``) request or token budget, then any reset, then
    ``DEFAULT_PAUSE``; capped at ``MAX_PAUSE``.

    Example:
        >>> pause_after_429({"retry-after": "2"}, 0.0, None)
        2.0
    """
    pause = _retry_after(headers, wall)
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
    if pause is None:
        pause = DEFAULT_PAUSE
    return min(pause, MAX_PAUSE)


# -- the accounting ----------------------------------------------------------


class Pacer:
    """GCRA pacing of requests and tokens, a shared pause, and post-429 recovery.

    All times are monotonic seconds passed by the caller.  ``delay(now)``
    says how long until the next start may happen; ``start()`` commits one
    and returns what ``unstart()`` needs to take it back.

    Args:
        requests_per_minute: configured request budget, or None.
        tokens_per_minute: configured token budget, or None.

    Example:
        >>> p = Pacer(requests_per_minute=600)
        >>> p.delay(0.0), p.start(1, 0.0) is not None, p.delay(0.0)
        (0.0, True, 0.1)
    """

    __slots__ = (
        "_ceiling",
        "_factor_at",
        "_factor_from",
        "_last_seq",
        "_req_tat",
        "_seq",
        "_tok_tat",
        "_unknown_rate",
        "_unknown_since",
        "last_cut",
        "learned_rpm",
        "learned_tpm",
        "paused_until",
        "penalties",
        "rpm",
        "starts",
        "tpm",
    )

    def __init__(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.learned_rpm: float | None = None
        self.learned_tpm: float | None = None
        self.paused_until = -math.inf
        self.penalties = 0
        self.starts = 0
        self.last_cut = -math.inf
        self._req_tat = -math.inf
        self._tok_tat = -math.inf
        self._seq = 0
        self._last_seq = -1
        # rate multiplier: climbs linearly from _factor_from at _factor_at to _ceiling
        self._factor_from = 1.0
        self._factor_at = -math.inf
        self._ceiling = 1.0
        # post-429 pacing when no rate is known at all
        self._unknown_rate: float | None = None
        self._unknown_since = 0.0

    # -- rates -----------------------------------------------------------

    def factor(self, now: float) -> float:
        """The current rate multiplier (1.0 until the first 429)."""
        if now <= self._factor_at:
            return self._factor_from
        f = self._factor_from + (now - self._factor_at) / RECOVERY
        return f if f < self._ceiling else self._ceiling

    def request_rate(self, now: float) -> float | None:
        """Effective request starts per second now, or None (unpaced)."""
        base = _min(self.rpm, self.learned_rpm)
        if base is not None:
            return base / 60.0 * self.factor(now)
        if self._unknown_rate is not None:
            doublings = (now - self._unknown_since) / UNKNOWN_DOUBLING
            rate = self._unknown_rate * math.pow(2.0, doublings)
            if rate < UNKNOWN_MAX_RATE:
                return rate
        return None

    def token_rate(self, now: float) -> float | None:
        """Effective tokens per second now, or None (unpaced)."""
        base = _min(self.tpm, self.learned_tpm)
        return None if base is None else base / 60.0 * self.factor(now)

    @property
    def paces_tokens(self) -> bool:
        """Whether token costs matter (a token budget is configured or learned)."""
        return self.tpm is not None or self.learned_tpm is not None

    # -- starting --------------------------------------------------------

    def pause_delay(self, now: float) -> float:
        """Seconds until the shared pause (after a 429 / exhausted budget) ends."""
        d = self.paused_until - now
        return d if d > 0.0 else 0.0

    def delay(self, now: float) -> float:
        """Seconds until the next request may start (0.0: now); independent of its size."""
        at = self.paused_until
        if self._req_tat > at and self.request_rate(now) is not None:
            at = self._req_tat
        if self._tok_tat > at and self.paces_tokens:
            at = self._tok_tat
        d = at - now
        return d if d > 0.0 else 0.0

    def start(self, cost: int, now: float, pace: bool = True) -> tuple[int, float, float, float]:
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
            self._req_tat = (self._req_tat if self._req_tat >= floor else now) + req_step
            self._last_seq = self._seq
        tok_step = 0.0
        trate = self.token_rate(now)
        if trate is not None and cost > 0:
            tok_step = cost / trate
            floor = now - min(tok_step * CATCH_UP, MAX_CATCH_UP)
            self._tok_tat = (self._tok_tat if self._tok_tat >= floor else now) + tok_step
        return (self._seq, req_step, tok_step, now)

    def unstart(self, receipt: tuple[int, float, float, float], now: float) -> None:
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

    def settle(self, estimate: int, actual: int, now: float, started: float | None = None) -> None:
        """Correct the token budget once the real usage is known.

        A refund never moves the budget before ``now`` (no credit is banked,
        so it cannot turn into a burst).  An extra debit is booked as if it
        had been paid when the request started (``started``, default now):
        the budget refilled meanwhile, and charging it from now would lose
        that time for every request that went out underestimated.
        """
        trate = self.token_rate(now)
        if trate is None or actual == estimate:
            return
        delta = (actual - estimate) / trate
        since = now if started is None or started > now else started
        base = self._tok_tat if self._tok_tat > since else since
        if delta > 0:
            self._tok_tat = base + delta
        else:
            self._tok_tat = max(self._tok_tat + delta, now)

    # -- learning --------------------------------------------------------

    def learn(self, info: RateInfo, now: float) -> None:
        """Use a response's rate-limit headers.

        ``limit`` values become the learned budget (paced with
        ``LEARNED_HEADROOM``); ``remaining == 0`` pauses until its reset;
        other ``remaining`` values are ignored (never a licence to burst).
        """
        if info.limit_requests is not None and info.limit_requests >= 1:
            self.learned_rpm = info.limit_requests * (1.0 - LEARNED_HEADROOM)
        if info.limit_tokens is not None and info.limit_tokens >= 1:
            self.learned_tpm = info.limit_tokens * (1.0 - LEARNED_HEADROOM)
        for remaining, reset in (
            (info.remaining_requests, info.reset_requests),
            (info.remaining_tokens, info.reset_tokens),
        ):
            if remaining is not None and remaining < 1 and reset is not None:
                until = now + min(reset, MAX_PAUSE)
                if until > self.paused_until:
                    self.paused_until = until

    def penalize(
        self, pause: float, now: float, jitter: float, accepted_rate: float | None = None
    ) -> None:
        """A 429: close the gate for ``pause`` seconds and reopen slowly.

        Args:
            pause: seconds the server asked for (see ``pause_after_429``).
            now: monotonic seconds.
            jitter: a uniform random number in [0, 1) from the caller's RNG.
            accepted_rate: responses per second the server recently accepted;
                used only when no rate is known at all.

        429s that arrive while the gate is still closed or reopening from
        the same event (answers to requests already in flight) extend the
        pause but cut the rate only once.
        """
        self.penalties += 1
        until = now + pause + min(1.0, pause * JITTER) * jitter
        if until > self.paused_until:
            self.paused_until = until
        if now < self.last_cut:
            # same event: the ramp restarts when the (extended) pause ends
            if self.paused_until > self._factor_at:
                self._factor_at = self.paused_until
                self._unknown_since = max(self._unknown_since, self.paused_until)
                self.last_cut = self.paused_until + 1.0
            return
        # the next cut is allowed one second after this pause ends
        self.last_cut = self.paused_until + 1.0
        f = self.factor(now)
        self._ceiling = max(MIN_FACTOR, f * CEILING_HEADROOM)
        self._factor_from = max(MIN_FACTOR, f * CUT)
        self._factor_at = self.paused_until
        if self.rpm is None and self.learned_rpm is None:
            # No known rate: pace at half the rate the server was accepting,
            # doubling back up every UNKNOWN_DOUBLING seconds.
            current = self.request_rate(now)
            if current is None:
                current = max(1.0, accepted_rate or 0.0)
            self._unknown_rate = max(0.5, current * CUT)
            self._unknown_since = self.paused_until

    def token_backlog(self, now: float) -> float:
        """Tokens already committed beyond ``now`` (the budget's debt; 0 when none)."""
        trate = self.token_rate(now)
        if trate is None or self._tok_tat <= now:
            return 0.0
        return (self._tok_tat - now) * trate

    @property
    def active(self) -> bool:
        """Whether any pacing or pause can apply (False: every start is free)."""
        return (
            self.rpm is not None
            or self.tpm is not None
            or self.learned_rpm is not None
            or self.learned_tpm is not None
            or self._unknown_rate is not None
            or self.paused_until != -math.inf
        )
