"""The limiter's reading of the server's answers, and the path it puts the limiter on.

``Limiter.acquire`` takes one of three paths, chosen here and only here
(``update_mode``): free (the shared no-op permit: nothing configured to
enforce, nothing learned that binds, no probe), slots only (a concurrency
cap, no clock), or paced (the ``Pacer`` spaces starts).  What moves the
limiter between them is what the server says, read here once per answer:
its rate-limit headers, a cap on calls in flight it states, its 429 / 529
refusals (and a full queue's 503), the end of the first call's probe, and
the client's own starts crossing the standby check.

Invariants:
- a budget (configured or learned and armed) pins the limiter to the paced
  path for good; pacing that only a slowdown or a pause caused ends once
  both are over (``_check_recovery``);
- learned limits stand by, costing nothing, until the client nears them: its
  own starts in the last second are checked as they cross ``_check_at``
  (``arm_now``), the server's ``remaining`` at most every ``LOOK_EVERY``
  seconds; both count every start, free or paced, in one total;
- the limits repeated on every answer are parsed only when they change or a
  budget is near exhaustion (the per-answer cost while pacing binds);
- the probe ends only after its answer was learned from, so that what it
  learned paces the calls that waited for it;
- nothing here awaits or reads the loop: when loops in several threads share
  the limiter, ``Limiter.observe`` calls in under its lock.

Functions here take the ``Limiter`` whose state they read and change, as
``_limiter_store`` and ``_loopshare`` do.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._limiter_store import spawn
from ._permit import NoopPermit, Permit, maybe_low
from ._ratelimit import explicit_wait, read_rate_headers
from ._ratelimit_headers import PARALLEL_LIMIT, parallel_cap

if TYPE_CHECKING:
    from ._limiter import Limiter

__all__ = ["LOOK_EVERY", "arm_now", "learn_from", "queue_full", "update_mode"]

logger = logging.getLogger("rawllm")
LOOK_EVERY = 0.1
"""Seconds between looks at the server's ``remaining`` while learned limits stand by."""


def update_mode(lim: Limiter, now: float) -> None:
    """Choose the acquire path: free (no-op permit), slots only, or paced."""
    pacer = lim._pacer
    lim._pinned = pacer.budgeted  # a budget, not a pause or a slowdown
    lim._paced = lim._pinned or pacer.engaged(now)
    free = lim._slots_only and not lim._paced and not lim._probing
    if lim._free and not free:
        lim._free_until = now
    lim._free = free


def arm_now(lim: Limiter) -> bool:
    """A start crossed the standby check: arm the learned limits if this second is near them.

    Every start counts, free or paced (``near`` and ``check_at`` use the same total).

    Returns:
        True when they armed (pacing applies from this start on).
    """
    pacer = lim._pacer
    starts = lim._free_starts + pacer.starts
    now = lim._clock()
    if pacer.near(now, starts):
        _arm_learned(lim, now, starts)
        return True
    lim._check_at = pacer.check_at()
    return False


def _arm_learned(lim: Limiter, now: float, starts: int) -> None:
    lim._pacer.arm(now, starts)
    lim._check_at = math.inf
    update_mode(lim, now)
    logger.debug("rawllm: the learned rate limits now pace this client")


def learn_from(
    lim: Limiter, status: int, headers: Mapping[str, str], permit: Permit | NoopPermit | None
) -> None:
    """``Limiter.observe`` (under its lock when loops share it): learn from one answer."""
    lim._answers += 1
    if status == 429 or status == 529:
        _refused(lim, status, headers, permit)
        return
    pacer = lim._pacer
    if not lim._adaptive:
        return
    now = lim._clock()
    get = headers.get
    if status < 500:
        pacer.congestion.success(now, _slot_of(lim, permit))
        cap = get(PARALLEL_LIMIT)  # the one look per answer (LiteLLM states its cap)
        if cap is not None and cap != lim._seen_cap:
            _stated_cap(lim, cap, now)
    # The family the server spoke last is looked at first: an Anthropic answer
    # then costs no look at OpenAI's names.
    anthropic = lim._anthropic_headers
    rr = get("anthropic-ratelimit-requests-remaining") if anthropic else None
    if rr is None:
        rr = get("x-ratelimit-remaining-requests")
        rt = get("x-ratelimit-remaining-tokens")
        anthropic = rr is None and rt is None
        if anthropic:
            rr = get("anthropic-ratelimit-requests-remaining")
            if rr is None:  # no rate headers at all
                lim._anthropic_headers = False
                if lim._probing:
                    _end_probe(lim)
                elif lim._slowed or (lim._paced and not lim._pinned):
                    _check_recovery(lim, now)
                return
        lim._anthropic_headers = anthropic
    if not anthropic:
        key = (get("x-ratelimit-limit-requests"), get("x-ratelimit-limit-tokens"))
        low = maybe_low(rr) or maybe_low(rt)
    else:
        key = (
            get("anthropic-ratelimit-requests-limit"),
            get("anthropic-ratelimit-tokens-limit"),
        )
        # "tokens" is the most restrictive token limit in effect (Anthropic's
        # docs): input / output are looked at only when it is missing.
        rt = get("anthropic-ratelimit-tokens-remaining")
        low = maybe_low(rr) or maybe_low(rt)
        if rt is None and not low:
            low = maybe_low(get("anthropic-ratelimit-input-tokens-remaining")) or maybe_low(
                get("anthropic-ratelimit-output-tokens-remaining")
            )
    # Limits repeat on every answer: only a new limit or a budget near
    # exhaustion is worth parsing (the per-response cost when pacing binds).
    if low or key != lim._seen_limits:
        lim._seen_limits = key
        info = read_rate_headers(headers, lim._wall(), False)
        if info is not None:
            pacer.learn(info, now, max(0, lim._free_starts - lim._answers) + lim._in_flight)
            if not lim._paced or not lim._pinned:
                update_mode(lim, now)
            if lim._waiters and not lim._probing:
                lim._wake()
    if pacer.standby and now >= lim._look_at:
        # learned limits far above the load cost nothing until near; the
        # server's remaining is looked at every LOOK_EVERY seconds (the
        # client's own starts are checked as they are made: _check_at)
        lim._look_at = now + LOOK_EVERY
        starts = lim._free_starts + pacer.starts
        if pacer.near(now, starts, rr, rt):
            _arm_learned(lim, now, starts)
        else:
            lim._check_at = pacer.check_at()
    if lim._probing:  # ended only now, so that what was learned paces the others
        _end_probe(lim)
    elif lim._slowed or (lim._paced and not lim._pinned):
        _check_recovery(lim, now)


def _stated_cap(lim: Limiter, raw: str, now: float) -> None:
    """A new stated cap on calls in flight: the window starts at it (``advertise``)."""
    lim._seen_cap = raw
    cap = parallel_cap(raw)
    if cap is not None and lim._pacer.congestion.advertise(cap, now):
        update_mode(lim, now)
        if lim._waiters:
            lim._wake()


def queue_full(
    lim: Limiter, headers: Mapping[str, str], permit: Permit | NoopPermit | None
) -> None:
    """``Limiter.queue_full``: the answer was a full queue's 503 (already counted by
    ``learn_from``): a refusal for concurrency that states no wait."""
    _refused(lim, 503, headers, permit)


def _refused(
    lim: Limiter, status: int, headers: Mapping[str, str], permit: Permit | NoopPermit | None
) -> None:
    now = lim._clock()
    wall = lim._wall()
    pacer = lim._pacer
    info = read_rate_headers(headers, wall, True)
    if info is not None:
        pacer.learn(info, now, lim._in_flight)
    if status == 529:
        reason = "529 overloaded"
    elif status == 503:
        reason = "503 queue full"
    elif info is None:
        reason = "429 without rate headers"
    else:
        reason = "429 with rate headers"
    if permit is None:
        started = None
    elif not isinstance(permit, Permit):  # the free path: sent before the limiter engaged
        started = lim._free_until if lim._free_until is not None else now
    else:
        started = permit.started
    rng = lim._rng
    opened = pacer.refused(
        now,
        started,
        explicit_wait(headers, wall, info),
        rng.random(),
        rng.random(),
        reason,
        _slot_of(lim, permit),
    )
    if opened:
        lim._slowed = pacer.slowed
        rate = pacer.request_rate(pacer.paused_until)
        logger.info(
            "rawllm: slowing down after %s: pausing %.2f s, then pacing %s",
            reason,
            pacer.pause_delay(now),
            "unpaced" if rate is None else f"{rate:.3g} req/s",
        )
        if lim._store is not None and now >= lim._store_down_until:
            try:
                spawn(lim, lim._store.pause(pacer.paused_until - now))
            except RuntimeError:
                pass
    update_mode(lim, now)
    if lim._probing:
        _end_probe(lim)
    elif lim._waiters:
        lim._wake()


def _slot_of(lim: Limiter, permit: Permit | NoopPermit | None) -> int:
    """Calls in flight when ``permit``'s request was sent, itself included (0: unknown).

    Called once per answer.  A free-path call carries no slot: the calls
    still unanswered when its answer came, itself included, stand in for
    it (so the first burst's successes say how many the server held).
    """
    if isinstance(permit, Permit):
        return permit.slot
    if permit is None:
        return 0
    lim._free_answers += 1
    return max(1, lim._free_starts - lim._free_answers + 1) + lim._in_flight


def _check_recovery(lim: Limiter, now: float) -> None:
    """Paced only by a slowdown or a pause: go back to the cheap path once both are over."""
    pacer = lim._pacer
    if pacer.slowed:
        pacer.request_rate(now)  # releases the cap once it has climbed back
        if pacer.slowed:
            return
    if lim._slowed:
        lim._slowed = False
        logger.info("rawllm: recovered from the slowdown: back to full speed")
    if not pacer.engaged(now):
        update_mode(lim, now)
        if lim._waiters:
            lim._wake()


def _end_probe(lim: Limiter) -> None:
    lim._probing = False
    update_mode(lim, lim._clock())
    if lim._waiters:
        lim._wake()
