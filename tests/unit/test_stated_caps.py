"""A cap on calls in flight the server states (LiteLLM) or shows (Ollama's full queue).

Pure rules on a virtual clock (``Congestion.advertise``), the limiter's hooks
on a virtual-time loop, and the header / body readers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from test_congestion import Sim, _window_at
from test_limiter import run

from rawllm import RateLimit
from rawllm._congestion import STRIKES, Congestion
from rawllm._limiter import Limiter, Permit
from rawllm._ratelimit import Pacer
from rawllm._ratelimit_headers import PARALLEL_LIMIT, parallel_cap, queue_full

# Ollama's ErrMaxQueue (server/sched.go) in the shape of each of its routes
OLLAMA_NATIVE = b'{"error":"server busy, please try again.  maximum pending requests exceeded"}'
OLLAMA_OPENAI = (
    b'{"error":{"message":"server busy, please try again.  maximum pending requests exceeded",'
    b'"type":"api_error","param":null,"code":null}}\n'
)
OLLAMA_ANTHROPIC = (
    b'{"type":"error","error":{"type":"overloaded_error","message":"server busy, please try '
    b'again.  maximum pending requests exceeded"},"request_id":"req_1"}'
)


# -- reading what the server says ---------------------------------------------------


def test_parallel_cap_reads_whole_numbers_only() -> None:
    assert PARALLEL_LIMIT == "x-ratelimit-api_key-limit-max_parallel_requests"
    assert parallel_cap("16") == 16 and parallel_cap(" 4 ") == 4
    for bad in ("0", "-1", "1.5", "", "None", "x", "\u0661\u0666"):  # Arabic-Indic digits too
        assert parallel_cap(bad) is None, bad


def test_only_ollamas_full_queue_body_is_a_queue_refusal() -> None:
    assert queue_full(OLLAMA_NATIVE) and queue_full(OLLAMA_OPENAI) and queue_full(OLLAMA_ANTHROPIC)
    for other in (
        b'{"error":{"message":"The engine is currently overloaded, please try again later.",'
        b'"type":"server_error"}}',
        b"<html><body><h1>503 Service Unavailable</h1></body></html>",
        b"upstream connect error or disconnect/reset before headers",
        b'{"error":"server busy, please try again."}',
        b"",
    ):
        assert not queue_full(other), other


# -- the rule: Congestion.advertise ---------------------------------------------------


def test_a_stated_cap_sets_the_window_there_and_it_never_probes_above() -> None:
    c = Congestion()
    assert c.advertise(16, 0.0) is True
    assert c.window == c.found == c.stated == 16  # a cap of 16 takes 16, not 15
    assert c.advertise(16, 0.1) is False  # repeated: nothing to do
    t = 0.0
    while t < 30.0:  # long past every probing hold: the window stays at the cap
        t += 0.01
        c.success(t, slot=16)
        assert c.window == 16
    c.release_window()  # a rate slowdown ending does not drop a stated cap
    assert c.window == 16
    # a refusal of a call sent before the cap was known (slot above it): no event
    assert c.refused(t, t - 1.0, 60.0, 0.0, 0.5, None, slot=40) is None
    assert c.window == 16 and c.events == 0


def test_a_new_stated_cap_moves_the_window_up_or_down() -> None:
    c = Congestion()
    c.advertise(16, 0.0)
    assert c.advertise(24, 1.0) and c.window == c.found == 24
    assert c.advertise(8, 2.0) and c.window == c.found == 8


def test_a_discovered_window_jumps_to_the_stated_cap() -> None:
    c = _window_at(12)  # a burst refused before any answer, then a success at 12
    assert c.stated == 0
    c.advertise(16, 0.3)  # the same answer stated the cap
    assert c.window == c.found == 16


def test_below_a_stated_cap_refusals_still_lower_the_window_and_probes_stop_at_the_cap() -> None:
    # other clients share the key's cap (or the server frees a slot late): refusals
    # at the top slots lower the window; it climbs back, one proved slot at a time,
    # to the stated cap and never past it
    c = Congestion()
    c.advertise(16, 0.0)
    t = 0.1
    for _ in range(STRIKES):
        assert c.refused(t, t - 0.05, None, 0.0, 0.5, None, slot=16) is None
        t += 0.01
    assert c.found == c.window == 15 and c.events == 0
    seen = set()
    while t < 5.0:
        t += 0.01
        slot = c.window
        assert slot is not None
        c.success(t, slot=slot)
        seen.add(c.window)
    assert c.window == c.found == 16 and max(seen) == 16


def test_a_dense_event_below_a_stated_cap_neither_releases_nor_lifts_it() -> None:
    c = Congestion()
    c.advertise(16, 0.0)
    for k in range(100):
        c.success(0.01 * k, slot=4)  # only 4 in flight were taken since
    until = None
    for k in range(20):  # refusals far below the top: the event rules
        until = c.refused(1.0 + 0.001 * k, 0.99, None, 0.0, 0.5, None, slot=2) or until
    assert until is not None and c.events == 1
    assert c.window == c.found == 4 and c.stated == 16
    t, top = until, 4
    while t < until + 30.0:  # probes grow it back (fast: nothing refused above) ...
        t += 0.01
        slot = c.window
        assert slot is not None
        c.success(t, slot=slot)
        top = max(top, slot)
    assert c.window == 16 and top == 16  # ... to the cap, never released at 2x its setting


@pytest.mark.parametrize("seed", [11, 3, 4])
def test_a_stated_cap_costs_only_the_first_bursts_refusals(seed: int) -> None:
    # the hidden-cap simulation of test_congestion, with the cap stated on successes:
    # no probe is ever refused (before: 58 refusals in 4,000, some after 10 s)
    s = Sim(Pacer(), "concurrency", limit=16, stated=None, latency=0.2, seed=seed, advertise=True)
    end = s.run(4000)
    late = [t for t in s.refusal_times if t > 1.0]
    assert s.refused <= 64 - 16  # the first burst's, sent before any answer
    assert late == []
    assert s.pacer.congestion.window == 16 and s.peak_window == 16
    assert 4000 / end >= 0.97 * 16 / 0.2


# -- the limiter's hooks ----------------------------------------------------------------


def _burst(lim: Limiter, n: int) -> tuple[list[asyncio.Task[Permit]], list[Permit]]:
    got: list[Permit] = []

    async def one() -> Permit:
        p = await lim.acquire(0)
        got.append(p)
        return p

    return [asyncio.create_task(one()) for _ in range(n)], got


def test_a_stated_cap_on_the_probe_answer_holds_the_others_at_it() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(RateLimit(max_concurrency=64), clock=clock)  # the first call probes
        first = await lim.acquire(0)
        tasks, got = _burst(lim, 20)
        await asyncio.sleep(0.01)
        assert got == []  # held by the probe
        lim.observe(200, {PARALLEL_LIMIT: "4", "content-type": "application/json"}, first)
        first.release()
        await asyncio.sleep(0.01)
        assert len(got) == 4 and lim.state.in_flight == 4
        assert lim.state.learned_max_concurrency == 4
        for _ in range(16):  # one freed slot lets one more go, never a fifth
            got[0].release()
            got.pop(0)
            await asyncio.sleep(0.01)
            assert lim.state.in_flight == 4
        for p in got:
            p.release()
        await asyncio.gather(*tasks)

    run(main)


def test_a_stated_cap_engages_a_client_with_nothing_configured() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(None, clock=clock)
        p = await lim.acquire(0)
        lim.observe(200, {PARALLEL_LIMIT: "2"}, p)  # the free path's permit
        p.release()
        tasks, got = _burst(lim, 3)
        await asyncio.sleep(0.01)
        assert len(got) == 2 and lim.state.in_flight == 2
        for q in list(got):
            q.release()
        await asyncio.gather(*tasks)
        got[-1].release()

    run(main)


def test_adaptive_false_does_not_learn_a_stated_cap_nor_count_a_full_queue_as_a_wait() -> None:
    # API.md: adaptive=False obeys only the configured numbers and stated waits;
    # a cap the server advertises is a learned limit like x-ratelimit-limit-requests
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(RateLimit(adaptive=False), clock=clock)
        p = await lim.acquire(0)
        lim.observe(200, {PARALLEL_LIMIT: "2"}, p)
        p.release()
        assert lim.state.learned_max_concurrency is None
        tasks, got = _burst(lim, 5)
        await asyncio.sleep(0)
        assert len(got) == 5  # nothing holds them
        t0 = clock()
        lim.observe(503, {}, got[0])
        lim.queue_full({}, got[0])  # counted, but it states no wait: nothing waits
        for q in got:
            q.release()
        (await lim.acquire(0)).release()
        assert clock() == t0 and lim.state.rate_limited == 1
        await asyncio.gather(*tasks)

    run(main)


def test_full_queue_503s_are_refusals_that_set_the_window() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(None, clock=clock)
        tasks, got = _burst(lim, 12)
        await asyncio.sleep(0)
        assert len(got) == 12  # the free path: all out
        for q in got[4:]:  # the server took 4; the rest found its queue full
            lim.observe(503, {"content-type": "application/json"}, q)
            lim.queue_full({}, q)
            q.release()
        state = lim.state
        assert state.rate_limited == 8 and state.slowdowns == 1
        assert state.reason == "503 queue full"
        for q in got[:4]:
            lim.observe(200, {}, q)
            q.release()
        cong = lim._pacer.congestion
        assert cong.window == 4  # the most in flight the server took
        await asyncio.gather(*tasks)

    run(main)


def test_a_generic_503_is_not_a_refusal() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(None, clock=clock)
        for _ in range(20):
            p = await lim.acquire(0)
            lim.observe(503, {"retry-after": "1"}, p)  # a proxy's 503: only the retry sees it
            p.release()
        state = lim.state
        assert state.rate_limited == 0 and state.slowdowns == 0 and state.paused_for == 0.0
        assert lim._pacer.congestion.window is None

    run(main)
