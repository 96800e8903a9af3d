"""Adaptation rules on a virtual clock: the accepted rate, 429 events, learned limits.

The simulations are discrete-event models of a client (a fixed number of
concurrent calls, a CPU that can start at most ``cpu`` requests per second,
retries that wait the stated Retry-After and re-enter the limiter) against
servers that refuse the way real ones do.  No event loop, no sockets.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

import pytest

from rawllm._congestion import (
    BETA,
    COOLDOWN,
    DOUBLING,
    HEADERLESS_PAUSE,
    RELEASE,
    TARGET,
    AcceptedRate,
    Congestion,
)
from rawllm._ratelimit import LEARNED_HEADROOM, Pacer, RateInfo

# -- the accepted rate ----------------------------------------------------------


def test_accepted_rate_is_measured_from_the_first_answer() -> None:
    r = AcceptedRate()
    assert r.value(0.0) is None
    for k in range(30):  # 100 answers per second from t = 5 on
        r.success(5.0 + k * 0.01)
    # no window starting at zero: the rate is right after 0.3 s of answers
    assert r.value(5.3) == pytest.approx(100, rel=0.1)


def test_accepted_rate_follows_a_change_and_restarts_after_idle() -> None:
    r = AcceptedRate()
    t = 0.0
    for _ in range(300):
        t += 0.01
        r.success(t)
    for _ in range(100):  # drops to 20 / s
        t += 0.05
        r.success(t)
    assert r.value(t) == pytest.approx(20, rel=0.2)
    assert r.value(t + 10.0) is None  # idle time is not a rate
    for k in range(20):
        r.success(t + 10.0 + k * 0.02)
    assert r.value(t + 10.4) == pytest.approx(50, rel=0.2)


# -- events ---------------------------------------------------------------------


def _accepting(c: Congestion, rate: float, until: float, since: float = 0.0) -> None:
    t = since
    while t < until:
        c.success(t)
        t += 1.0 / rate


def test_a_refusal_pauses_then_cuts_from_the_accepted_rate_and_climbs_back() -> None:
    c = Congestion()
    _accepting(c, 200.0, 3.0)
    until = c.refused(3.0, 2.99, 0.2, jitter=0.0, jitter2=0.5, pace=None)
    assert until == pytest.approx(3.2)
    assert c.active and c.events == 1
    assert c.cap(3.1) == pytest.approx(BETA * 200, rel=0.05)
    # doubling every DOUBLING seconds ...
    assert c.cap(3.2 + DOUBLING / 4) == pytest.approx(BETA * 200 * 2 ** (1 / 4), rel=0.05)
    # ... up to TARGET of the refused rate, then a slow probe
    assert c.cap(3.2 + 2 * DOUBLING) == pytest.approx(TARGET * 200, rel=0.06)
    assert c.cap(3.2 + 3.0) > TARGET * 200
    assert c.release_above(None) == pytest.approx(RELEASE * 200, rel=0.05)


def test_cut_is_from_the_pace_when_the_server_accepted_more_than_we_now_send() -> None:
    c = Congestion()
    _accepting(c, 200.0, 1.0)
    c.refused(1.0, None, None, 0.0, 0.5, pace=50.0)
    assert c.cap(1.0) == pytest.approx(BETA * 50)
    # nothing accepted and nothing paced: no rate to cut from, only a pause
    d = Congestion()
    assert d.refused(0.0, None, None, 0.0, 0.5, pace=None) is not None
    assert not d.active and d.events == 1


def test_refusals_of_one_event_cut_once_and_isolated_ones_do_not_cut_again() -> None:
    c = Congestion()
    _accepting(c, 100.0, 2.0)
    end = c.refused(2.0, 1.99, None, 0.0, 0.5, pace=None)
    assert end == pytest.approx(2.0 + HEADERLESS_PAUSE)
    # answers to requests sent before the pause ended: the same event
    for k in range(20):
        assert c.refused(2.01 + k * 0.01, 1.9, None, 0.0, 0.5, pace=None) is None
    assert c.events == 1
    # after the pause, an isolated refusal among successes: no new event
    _accepting(c, 80.0, end + 1.0, since=end)
    assert c.refused(end + 1.0, end + 0.99, 0.2, 0.0, 0.5, pace=None) is None
    assert c.events == 1
    # past the cooldown, the next refusal opens the next event
    _accepting(c, 80.0, end + COOLDOWN + 0.5, since=end + 1.0)
    assert c.refused(end + COOLDOWN + 0.5, end + COOLDOWN + 0.4, 0.2, 0.0, 0.5, None)
    assert c.events == 2


def test_a_dense_run_of_refusals_opens_the_next_event_early() -> None:
    c = Congestion()
    _accepting(c, 100.0, 1.0)
    end = c.refused(1.0, None, 0.1, 0.0, 0.5, pace=None)
    assert end is not None
    # sporadic refusals among successes (1 in 20) never open one during the cooldown
    t = end
    for _ in range(10):
        for _ in range(19):
            t += 0.01
            c.success(t)
        assert c.refused(t, t - 0.01, 0.1, 0.0, 0.5, 80.0) is None
    # a run of refusals (the cut was not enough) does, well before the cooldown ends
    opened = [c.refused(t + 0.001 * k, t, 0.1, 0.0, 0.5, 80.0) for k in range(1, 9)]
    assert t + 0.01 < end + COOLDOWN
    assert any(o is not None for o in opened)
    assert c.events == 2


def test_stated_wait_is_jittered_and_headerless_pause_is_short() -> None:
    for j in (0.0, 0.999):
        c = Congestion()
        until = c.refused(0.0, None, 30.0, j, 0.5, None)
        assert until is not None and 30.0 <= until <= 31.0
        d = Congestion()
        until = d.refused(0.0, None, None, j, 0.5, None)
        assert until is not None and HEADERLESS_PAUSE <= until <= 2 * HEADERLESS_PAUSE


# -- the pacer's use of it ---------------------------------------------------------


def test_pacer_slowdown_under_a_known_limit_releases_at_the_limit() -> None:
    p = Pacer(requests_per_minute=600)  # 10 / s
    for k in range(50):
        p.start(1, k * 0.1)
        p.success(k * 0.1 + 0.05)
    assert p.refused(5.0, 4.9, 1.0, 0.0, 0.5)
    assert p.slowed and p.reason == "429"
    assert p.delay(5.0) == pytest.approx(1.0)
    assert p.request_rate(6.0) == pytest.approx(BETA * 10, rel=0.05)
    assert p.factor(6.0) == pytest.approx(BETA, rel=0.05)
    assert p.token_rate(6.0) is None
    # long after, the cap has climbed past the limit and is dropped
    assert p.request_rate(60.0) == pytest.approx(10)
    assert not p.slowed and p.reason is None


def test_adaptive_false_obeys_only_stated_waits() -> None:
    p = Pacer(requests_per_minute=600, adaptive=False)
    p.learn(RateInfo(limit_requests=60, remaining_requests=0, reset_requests=5.0), 0.0)
    assert p.learned_rpm is None and p.delay(0.0) == 0.0  # nothing learned
    assert not p.refused(0.0, None, None, 0.0)  # no stated wait: nothing
    assert p.delay(0.0) == 0.0 and p.request_rate(0.0) == pytest.approx(10)
    assert not p.refused(1.0, None, 2.0, 0.9)  # a stated wait: exactly that, no jitter
    assert p.delay(1.0) == pytest.approx(2.0)
    assert p.request_rate(3.0) == pytest.approx(10)  # and no slowdown
    assert p.penalties == 2


def test_learned_limits_pace_with_headroom_and_count_calls_in_flight() -> None:
    p = Pacer()
    assert not p.engaged(0.0) and p.request_rate(0.0) is None
    p.learn(RateInfo(limit_requests=600, limit_tokens=60_000), 10.0, in_flight=20)
    # learned, but on standby until the client uses NEAR of it: nothing paces yet
    assert p.standby and not p.engaged(10.0) and not p.paces_tokens
    assert p.near(10.0, 20)  # 20 starts in a second is far over NEAR x 9.6 / s
    p.arm(10.0, 20)
    assert p.engaged(10.0) and p.paces_tokens and not p.standby
    assert p.request_rate(10.0) * 60 == pytest.approx(600 * (1 - LEARNED_HEADROOM))
    assert p.token_rate(10.0) * 60 == pytest.approx(60_000 * (1 - LEARNED_HEADROOM))
    # the 20 calls already out count: no burst on top of them
    assert p.delay(10.0) == pytest.approx(20 / (600 * (1 - LEARNED_HEADROOM) / 60))
    # a configured limit below the learned one wins, and the other way round
    q = Pacer(requests_per_minute=100)
    q.learn(RateInfo(limit_requests=600), 0.0)
    assert q.request_rate(0.0) * 60 == pytest.approx(100)
    q = Pacer(requests_per_minute=6000)
    q.learn(RateInfo(limit_requests=600), 0.0)
    assert q.request_rate(0.0) * 60 == pytest.approx(6000)  # standby: the configured pace
    q.arm(0.0, 0)
    assert q.request_rate(0.0) * 60 == pytest.approx(600 * (1 - LEARNED_HEADROOM))


def test_remaining_zero_waits_for_one_second_of_budget_and_remaining_never_opens() -> None:
    p = Pacer()
    p.learn(RateInfo(remaining_requests=0, reset_requests=2.5), 10.0)  # no limit: the reset
    assert p.engaged(10.0) and p.delay(10.0) == pytest.approx(2.5)
    assert p.reason == "remaining = 0 until reset"
    # OpenAI's reset is the time to a *full* budget: wait for one second's worth of it
    q = Pacer()
    q.learn(RateInfo(limit_requests=600, remaining_requests=0, reset_requests=60.0), 0.0)
    assert q.delay(0.0) == pytest.approx(1.0)
    # a large remaining never shortens a pause nor allows a burst
    q.learn(RateInfo(limit_requests=600, remaining_requests=599, reset_requests=0.0), 0.5)
    assert q.delay(0.5) == pytest.approx(0.5)
    q.arm(2.0, 0)
    q.start(1, 2.0)
    q.learn(RateInfo(limit_requests=600, remaining_requests=10_000), 2.0)
    assert q.delay(2.0) == pytest.approx(60 / (600 * (1 - LEARNED_HEADROOM)))


def test_settle_refund_says_when_the_next_start_comes_sooner() -> None:
    p = Pacer(tokens_per_minute=6000)  # 100 / s
    r = p.start(1000, 0.0)
    assert p.delay(0.0) == pytest.approx(10.0)
    assert p.settle(1000, 17, 0.5, r[3])  # refund: sooner
    assert p.delay(0.5) == 0.0  # 17 tokens were paid off by 0.17: free now, no credit banked
    assert not p.settle(17, 200, 0.5, r[3])  # extra debit: 183 tokens more, from now on
    assert p.delay(0.5) == pytest.approx(1.83)


# -- simulations against servers that refuse like real ones ---------------------------


@dataclass
class Sim:
    """A client of ``concurrency`` calls against a server, on a virtual clock."""

    pacer: Pacer
    server: str
    concurrency: int = 64
    cpu: float = 1000.0  # starts per second the client can make
    latency: float = 0.05
    p: float = 0.0  # sporadic refusal probability
    limit: float = 0.0  # hidden rate (per s) or concurrency cap
    stated: float | None = 0.2  # Retry-After the server sends
    seed: int = 11
    refused: int = 0
    done: int = 0
    times: list[float] = field(default_factory=list)
    refusal_times: list[float] = field(default_factory=list)

    def run(self, n: int) -> float:
        rng = random.Random(self.seed)
        ready: deque[int] = deque(range(min(n, self.concurrency)))
        queued = len(ready)
        events: list[tuple[float, int, str, float]] = []
        seq = 0
        now = 0.0
        next_cpu = 0.0
        in_server = 0
        level, last = self.limit, 0.0  # hidden bucket, one second of burst
        while self.done < n:
            # start what may start now
            while ready and now >= next_cpu and self.pacer.delay(now) <= 0.0:
                ready.popleft()
                receipt = self.pacer.start(1, now)
                next_cpu = now + 1.0 / self.cpu
                ok = True
                if self.server == "sporadic":
                    ok = rng.random() >= self.p
                elif self.server == "rate":
                    level = min(self.limit, level + (now - last) * self.limit)
                    last = now
                    ok = level >= 1.0
                    if ok:
                        level -= 1.0
                elif self.server == "concurrency":
                    ok = in_server < self.limit
                lat = self.latency * (0.8 + 0.4 * rng.random())
                if ok:
                    in_server += 1
                    heapq.heappush(events, (now + lat, seq, "ok", receipt[3]))
                else:
                    heapq.heappush(events, (now + 0.002, seq, "429", receipt[3]))
                seq += 1
            wake_at = math.inf
            if ready:
                wake_at = max(now + self.pacer.delay(now), next_cpu)
            if not events or wake_at < events[0][0]:
                now = wake_at
                continue
            now, _, kind, started = heapq.heappop(events)
            if kind == "ok":
                in_server -= 1
                self.pacer.success(now)
                self.done += 1
                self.times.append(now)
                if queued < n:
                    ready.append(queued)
                    queued += 1
            elif kind == "429":
                self.refused += 1
                self.refusal_times.append(now)
                self.pacer.refused(now, started, self.stated, rng.random(), rng.random())
                wait = self.stated if self.stated is not None else 0.5 * rng.random()
                heapq.heappush(events, (now + wait, seq, "retry", 0.0))
                seq += 1
            else:  # retry: back into the queue
                ready.append(-1)
        return now


def _fault_free(**kw: object) -> float:
    s = Sim(Pacer(), "sporadic", **kw)  # type: ignore[arg-type]
    return 4000 / s.run(4000)


@pytest.mark.parametrize(("p", "floor"), [(0.01, 0.85), (0.05, 0.70)])
def test_sporadic_headerless_429s_keep_most_of_the_throughput(p: float, floor: float) -> None:
    base = _fault_free()
    s = Sim(Pacer(), "sporadic", p=p)
    rate = 4000 / s.run(4000)
    assert s.refused > 0
    assert rate >= floor * base, (rate, base)


def test_hidden_per_second_limit_converges_just_under_it() -> None:
    s = Sim(Pacer(), "rate", limit=100.0, stated=1.0, latency=0.2)
    end = s.run(4000)
    late = [t for t in s.refusal_times if t > 10.0]
    assert len(late) <= 0.025 * 4000  # after the first seconds, few refusals
    assert 4000 / end >= 0.9 * 100  # and close to the limit


def test_hidden_concurrency_cap_converges() -> None:
    # 16 calls at a time, 0.2 s +-20% each: the server takes about 80 per second
    s = Sim(Pacer(), "concurrency", limit=16, stated=None, latency=0.2, concurrency=64)
    end = s.run(4000)
    late = [t for t in s.refusal_times if t > 10.0]
    assert len(late) <= 0.025 * 4000
    assert 4000 / end >= 0.7 * 16 / 0.2


def test_learned_limit_under_a_one_second_window_is_never_refused() -> None:
    # a server enforcing 600 RPM as 10 per second, advertising 600 in its headers
    p = Pacer()
    p.learn(RateInfo(limit_requests=600), 0.0, in_flight=0)
    assert p.near(0.0, 64)  # 64 calls at once are far over NEAR of 10 / s: it arms
    p.arm(0.0, 0)
    s = Sim(p, "rate", limit=10.0, stated=1.0, latency=0.3)
    end = s.run(600)
    assert s.refused == 0
    assert end <= 1.05 * 600 / 10 / (1 - LEARNED_HEADROOM) + 1.0
