"""The asyncio Limiter on a virtual-time event loop: exact times, no sleeping.

The loop's clock only moves when every task is blocked: its selector jumps
straight to the next timer instead of waiting for it, and the limiter reads
the same virtual clock.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiolimiter import AsyncLimiter

from rawllm import APIConnectionError, RateLimit
from rawllm._congestion import BETA
from rawllm._limiter import (
    DEFAULT_COMPLETION_TOKENS,
    Limiter,
    LimiterState,
    Permit,
    estimate_tokens,
)
from rawllm._limiter_answers import LOOK_EVERY
from rawllm._ratelimit import LEARNED_HEADROOM

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if not events:
            if timeout is None:
                raise RuntimeError("deadlock: every task waits and no timer is armed")
            self.now += max(timeout, 0.0)
        return events


def run(main: Callable[[Callable[[], float]], Awaitable[T]]) -> T:
    """Run ``main(clock)`` on a virtual-time loop."""
    sel = _VirtualSelector()
    loop = asyncio.SelectorEventLoop(sel)
    loop.time = lambda: sel.now  # type: ignore[method-assign]
    try:
        return loop.run_until_complete(main(lambda: sel.now))
    finally:
        loop.close()


def _scheduled(loop: asyncio.AbstractEventLoop) -> int:
    return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]


# -- no limits: the hot path ---------------------------------------------------


def test_unlimited_acquire_does_not_suspend_and_shares_one_permit() -> None:
    lim = Limiter(None)
    coro = lim.acquire(123)
    with pytest.raises(StopIteration) as stop:
        coro.send(None)  # completes without ever yielding to the loop
    permit = stop.value.value
    coro2 = lim.acquire(1)
    with pytest.raises(StopIteration) as stop2:
        coro2.send(None)
    assert stop2.value.value is permit
    permit.settle(5)
    permit.release()
    permit.release()
    lim.observe(200, {"content-type": "application/json"})
    assert lim.state.in_flight == 0
    assert not lim.wants_tokens and lim.estimate({"messages": []}) == 0


def test_learned_limits_are_followed_without_config() -> None:
    headers = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59"}

    async def main(clock: Callable[[], float]) -> list[float]:
        lim = Limiter(None, clock=clock)
        lim.observe(200, headers)
        assert lim.state.learned_requests_per_minute == pytest.approx(60 * (1 - LEARNED_HEADROOM))
        # on standby: a client far under the learned budget is not paced ...
        assert lim.state.requests_per_minute is None
        times = []
        for _ in range(4):
            permit = await lim.acquire(1)
            times.append(clock())
            lim.observe(200, headers, permit)
            permit.release()
        return times

    t = run(main)
    # ... until its starts in one second pass NEAR of the budget (0.4 x 0.96 / s):
    # the first start is free, the ones after it are paced at the learned rate
    assert t[1] - t[0] == pytest.approx(1 / (1 - LEARNED_HEADROOM))
    assert t[2] - t[1] == pytest.approx(1 / (1 - LEARNED_HEADROOM))
    assert t[3] - t[2] == pytest.approx(1 / (1 - LEARNED_HEADROOM))


def test_learned_limits_stand_by_far_under_the_budget_and_arm_near_it() -> None:
    # 6,000 RPM learned (96 / s paced): 30 calls a second stay on the free path
    headers = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5990"}

    async def main(clock: Callable[[], float]) -> tuple[bool, bool, bool]:
        lim = Limiter(None, clock=clock)
        for _ in range(60):  # two seconds at 30 / s
            permit = await lim.acquire(1)
            lim.observe(200, headers, permit)
            permit.release()
            await asyncio.sleep(1 / 30)
        calm = lim.state.requests_per_minute is None
        # the server says 60% of the budget is used (other clients share the key): arm
        # (its remaining is looked at every LOOK_EVERY seconds)
        await asyncio.sleep(LOOK_EVERY)
        permit = await lim.acquire(1)
        lim.observe(200, {**headers, "x-ratelimit-remaining-requests": "2000"}, permit)
        permit.release()
        armed = lim.state.requests_per_minute == pytest.approx(6000 * (1 - LEARNED_HEADROOM))
        # a fresh client bursting 64 calls before the first answer arms at once
        lim2 = Limiter(None, clock=clock)
        permits = [await lim2.acquire(1) for _ in range(64)]
        lim2.observe(200, headers, permits[0])
        burst = lim2.state.next_start_in > 0.5  # the 64 are charged: ~64 / 96 s
        for p in permits:
            p.release()
        return calm, armed, burst

    assert run(main) == (True, True, True)


def test_a_burst_arms_standby_limits_at_the_start_that_crosses_near() -> None:
    # 6,000 RPM learned (96 / s paced); then 100 calls at once, no answer in between
    headers = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999"}

    async def main(clock: Callable[[], float]) -> list[float]:
        lim = Limiter(None, clock=clock)
        permit = await lim.acquire(1)
        lim.observe(200, headers, permit)
        permit.release()

        async def one() -> float:
            p = await lim.acquire(1)
            t = clock()
            p.release()
            return t

        return list(await asyncio.gather(*(one() for _ in range(100))))

    times = sorted(run(main))
    free = [t for t in times if t == times[0]]
    # about NEAR x 96 starts go at once (the one before the burst included), then pacing:
    # the starts already made are charged, and the rest follow 1 / 96 s apart
    assert 30 <= len(free) <= 40
    rate = 6000 * (1 - LEARNED_HEADROOM) / 60
    # every start of the burst counts against the budget: the last one comes ~100 / 96 s on
    assert times[-1] - times[0] == pytest.approx(100 / rate, rel=0.05)


_ANTHROPIC_OK = {
    "anthropic-ratelimit-requests-remaining": "99",
    "anthropic-ratelimit-requests-limit": "100",
}


@pytest.mark.parametrize(
    ("answers", "wait"),
    [
        # OpenAI: remaining 0, a duration reset; nothing configured
        ([{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"}], 1.5),
        # Anthropic: remaining 0, an RFC 3339 reset
        (
            [
                {
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": "1970-01-01T00:00:03Z",
                }
            ],
            3.0,
        ),
        # Anthropic without the overall tokens figure (the most restrictive):
        # the input / output ones count
        (
            [
                {
                    **_ANTHROPIC_OK,
                    "anthropic-ratelimit-input-tokens-remaining": "0",
                    "anthropic-ratelimit-input-tokens-reset": "1970-01-01T00:00:02Z",
                }
            ],
            2.0,
        ),
        # Anthropic's names are looked at first once seen; OpenAI's still count after
        (
            [
                _ANTHROPIC_OK,
                {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"},
            ],
            1.5,
        ),
    ],
)
def test_remaining_zero_waits_for_reset_without_config(
    answers: list[dict[str, str]], wait: float
) -> None:
    async def main(clock: Callable[[], float]) -> float:
        lim = Limiter(None, clock=clock, wall=lambda: 0.0)
        for headers in answers[:-1]:
            lim.observe(200, headers)
        t0 = clock()
        lim.observe(200, answers[-1])
        (await lim.acquire(1)).release()
        return clock() - t0

    assert run(main) == pytest.approx(wait)


# -- spacing, FIFO, one timer --------------------------------------------------


def test_starts_are_spaced_fifo_with_one_timer() -> None:
    async def main(clock: Callable[[], float]) -> tuple[list[tuple[int, float]], int]:
        lim = Limiter(RateLimit(requests_per_minute=600), clock=clock)
        loop = asyncio.get_running_loop()
        order: list[tuple[int, float]] = []
        most_timers = 0

        async def call(i: int) -> None:
            nonlocal most_timers
            permit = await lim.acquire(1)
            order.append((i, clock()))
            most_timers = max(most_timers, _scheduled(loop))
            permit.release()

        tasks = [asyncio.create_task(call(i)) for i in range(30)]
        await asyncio.sleep(0)
        most_timers = max(most_timers, _scheduled(loop))
        await asyncio.gather(*tasks)
        return order, most_timers

    order, timers = run(main)
    assert [i for i, _ in order] == list(range(30))
    gaps = [b - a for (_, a), (_, b) in zip(order, order[1:], strict=False)]
    assert all(g == pytest.approx(0.1) for g in gaps)
    assert timers <= 1


def test_cancelled_waiter_consumes_nothing() -> None:
    async def main(clock: Callable[[], float]) -> tuple[float, int]:
        lim = Limiter(RateLimit(requests_per_minute=60), clock=clock)
        t0 = clock()
        (await lim.acquire(1)).release()
        b = asyncio.create_task(lim.acquire(1))
        c = asyncio.create_task(lim.acquire(1))
        await asyncio.sleep(0.5)
        b.cancel()
        permit = await c
        permit.release()
        with pytest.raises(asyncio.CancelledError):
            await b
        return clock() - t0, lim.state.started

    elapsed, started = run(main)
    assert elapsed == pytest.approx(1.0)  # c took b's place, not the one after
    assert started == 2


def test_waiter_cancelled_after_grant_gives_start_and_slot_back() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(RateLimit(max_concurrency=1, requests_per_minute=60), clock=clock)
        a = await lim.acquire(1)
        b = asyncio.create_task(lim.acquire(1))
        c = asyncio.create_task(lim.acquire(1))
        await asyncio.sleep(1.0)  # b heads the queue, waiting for the slot
        assert lim.state.waiting == 2
        a.release()  # grants b synchronously ...
        b.cancel()  # ... but b is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await b
        t = clock()
        permit = await c
        assert clock() == pytest.approx(t)  # b's start was given back: c goes at once
        assert lim.state.in_flight == 1
        assert lim.state.started == 2  # a and c
        permit.release()
        assert lim.state.in_flight == 0

    run(main)


def test_concurrency_slots_fifo_and_release_idempotent() -> None:
    async def main(clock: Callable[[], float]) -> list[int]:
        lim = Limiter(RateLimit(max_concurrency=2), clock=clock)
        lim.observe(200, {})  # end the probe
        got: list[int] = []
        permits: dict[int, Permit] = {}

        async def call(i: int) -> None:
            permits[i] = await lim.acquire(1)
            got.append(i)

        tasks = [asyncio.create_task(call(i)) for i in range(6)]
        await asyncio.sleep(0.01)
        assert got == [0, 1] and lim.state.in_flight == 2 and lim.state.waiting == 4
        permits[0].release()
        permits[0].release()  # idempotent: frees one slot, not two
        await asyncio.sleep(0.01)
        assert got == [0, 1, 2]
        assert lim.state.in_flight == 2
        for i in (1, 2, 3, 4):
            permits[i].release()
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        permits[5].release()
        assert lim.state.in_flight == 0
        return got

    assert run(main) == [0, 1, 2, 3, 4, 5]


def test_calls_held_by_the_probe_arm_standby_limits_at_the_start_that_crosses_near() -> None:
    # RateLimit(max_concurrency=...) with no numbers: the first call probes, 100 wait;
    # its answer advertises 6,000 RPM with plenty remaining (standby).  The held calls
    # are granted by the waker: they too must arm the learned limits once NEAR of a
    # second's budget went out (before: all 100 went at once, until the next look)
    headers = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999"}

    async def main(clock: Callable[[], float]) -> list[float]:
        lim = Limiter(RateLimit(max_concurrency=200), clock=clock)
        first = await lim.acquire(1)

        async def one() -> float:
            p = await lim.acquire(1)
            t = clock()
            p.release()
            return t

        tasks = [asyncio.create_task(one()) for _ in range(100)]
        await asyncio.sleep(0.05)
        lim.observe(200, headers, first)
        first.release()
        return list(await asyncio.gather(*tasks))

    times = sorted(run(main))
    at_once = [t for t in times if t == times[0]]
    assert 30 <= len(at_once) <= 45
    rate = 6000 * (1 - LEARNED_HEADROOM) / 60
    assert times[-1] - times[0] == pytest.approx(101 / rate, rel=0.05)


def test_probe_holds_others_until_the_first_answer() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(RateLimit(max_concurrency=100), clock=clock)
        first = await lim.acquire(1)
        times: list[float] = []

        async def later() -> Permit:
            permit = await lim.acquire(1)
            times.append(clock())
            return permit

        others = [asyncio.create_task(later()) for _ in range(3)]
        await asyncio.sleep(1.0)
        assert not any(t.done() for t in others) and lim.state.probing
        lim.observe(
            200, {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "1"}
        )
        permits = await asyncio.gather(*others)
        assert not lim.state.probing
        learned = 600 * (1 - LEARNED_HEADROOM)
        assert lim.state.learned_requests_per_minute == pytest.approx(learned)
        # what the probe learned paces the ones held back: no burst when it ends
        assert times[1] - times[0] == pytest.approx(60 / learned)
        assert times[2] - times[1] == pytest.approx(60 / learned)
        first.release()
        for p in permits:
            p.release()

    run(main)


def test_a_run_of_429s_pauses_every_call_then_reopens_gradually() -> None:
    async def main(clock: Callable[[], float]) -> list[float]:
        lim = Limiter(RateLimit(requests_per_minute=600), clock=clock, rng=_ZeroRandom())
        for _ in range(20):  # the server accepts the configured 10 / s
            permit = await lim.acquire(1)
            lim.observe(200, {}, permit)
            permit.release()
        # one 429 among successes is a hiccup: only that call waits
        permit = await lim.acquire(1)
        lim.observe(429, {"retry-after": "2"}, permit)
        permit.release()
        assert lim.state.paused_for == 0.0 and lim.state.slowdowns == 0
        while not lim.state.slowdowns:  # refused again and again: the limit is overshot
            permit = await lim.acquire(1)
            t429 = clock()
            lim.observe(429, {"retry-after": "2"}, permit)
            permit.release()
        assert lim.state.paused_for == pytest.approx(2.0)
        assert 3 <= lim.state.rate_limited <= 10
        times = []

        async def call() -> None:
            (await lim.acquire(1)).release()
            times.append(clock() - t429)

        await asyncio.gather(*(call() for _ in range(4)))
        return times

    times = run(main)
    assert times[0] == pytest.approx(2.0)
    # BETA of the pace the server was accepting (10 / s) at first
    assert times[1] - times[0] == pytest.approx(0.1 / BETA, rel=0.01)
    assert times[3] - times[2] < times[1] - times[0]  # and speeding up


class _ZeroRandom:
    def random(self) -> float:
        return 0.0


def _overshoot(lim: Limiter, headers: dict[str, str]) -> int:
    """429s in a row (a limit overshot) until one opens a slowdown; how many it took."""
    before = lim.state.slowdowns
    for n in range(1, 30):
        lim.observe(429, headers)
        if lim.state.slowdowns > before:
            return n
    raise AssertionError("no slowdown")


def test_429_during_wait_moves_the_head_timer() -> None:
    async def main(clock: Callable[[], float]) -> float:
        lim = Limiter(RateLimit(requests_per_minute=60), clock=clock, rng=_ZeroRandom())
        t0 = clock()
        (await lim.acquire(1)).release()
        waiter = asyncio.create_task(lim.acquire(1))
        await asyncio.sleep(0.5)
        _overshoot(lim, {"retry-after-ms": "3000"})
        (await waiter).release()
        return clock() - t0

    assert run(main) == pytest.approx(3.5)


def test_token_budget_debit_and_settle() -> None:
    async def main(clock: Callable[[], float]) -> tuple[float, float]:
        lim = Limiter(RateLimit(tokens_per_minute=6000), clock=clock)  # 100 tokens / s
        assert lim.wants_tokens
        t0 = clock()
        p = await lim.acquire(300)
        assert lim.state.token_backlog == pytest.approx(300)
        p.settle(100)  # refund 200
        p.release()
        p.settle(100)  # same value again: no change
        (await lim.acquire(50)).release()
        t1 = clock() - t0
        (await lim.acquire(1)).release()
        return t1, clock() - t0

    t1, t2 = run(main)
    assert t1 == pytest.approx(1.0)
    assert t2 == pytest.approx(1.5)


def test_state_is_a_frozen_snapshot() -> None:
    lim = Limiter(RateLimit(requests_per_minute=120, tokens_per_minute=1000, max_concurrency=3))
    s = lim.state
    assert isinstance(s, LimiterState)
    assert (s.in_flight, s.waiting, s.max_concurrency) == (0, 0, 3)
    assert s.requests_per_minute == pytest.approx(120)
    assert s.tokens_per_minute == pytest.approx(1000)
    with pytest.raises(AttributeError):
        s.in_flight = 5  # type: ignore[misc]
    assert "rpm=120.0" in repr(lim)


def test_estimator_replacement() -> None:
    lim = Limiter(RateLimit(tokens_per_minute=1000, estimator=lambda body: 77))
    assert lim.estimate({"messages": []}) == 77


def test_estimate_tokens() -> None:
    msgs = [{"role": "user", "content": "x" * 400}]
    assert estimate_tokens({"messages": msgs, "max_tokens": 100}) == (400 + 16) // 4 + 100
    assert estimate_tokens({"messages": msgs}) == (400 + 16) // 4 + DEFAULT_COMPLETION_TOKENS
    assert estimate_tokens({"messages": msgs, "max_completion_tokens": 5}) == 104 + 5
    parts = [{"role": "user", "content": [{"type": "text", "text": "y" * 80}]}]
    assert estimate_tokens({"messages": parts, "max_tokens": 0}) == (80 + 16) // 4
    anth = {"system": "s" * 40, "messages": parts, "max_tokens": 10}
    assert estimate_tokens(anth) == (40 + 80 + 16) // 4 + 10
    assert estimate_tokens({"input": "z" * 40, "max_output_tokens": 1}) == 11
    assert estimate_tokens({"input": ["a" * 8, "b" * 8]}) == 4 + DEFAULT_COMPLETION_TOKENS
    with_tools = estimate_tokens(
        {"messages": msgs, "tools": [{"name": "f" * 400}], "max_tokens": 0}
    )
    assert with_tools > 104 + 100


# -- a shared store (in-memory fake) -------------------------------------------


class _FakeStore:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[Any, ...]] = []

    async def reserve(self, cost: int, rpm: float | None, tpm: float | None) -> Any:
        self.calls.append(("reserve", cost, rpm, tpm))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def refund(self, receipt: Any) -> None:
        self.calls.append(("refund", receipt))

    async def adjust(self, tokens: int, tpm: float | None) -> None:
        self.calls.append(("adjust", tokens, tpm))

    async def pause(self, seconds: float) -> None:
        self.calls.append(("pause", seconds))


def test_store_wait_then_start() -> None:
    async def main(clock: Callable[[], float]) -> None:
        store = _FakeStore([(0.75, None), (0.0, "r1")])
        lim = Limiter(RateLimit(requests_per_minute=60, store=store), clock=clock)
        t0 = clock()
        p = await lim.acquire(10)
        assert clock() - t0 == pytest.approx(0.75)
        assert store.calls[0] == ("reserve", 10, pytest.approx(60.0), None)
        p.release()
        observed_pause = store.calls[:]
        _overshoot(lim, {"retry-after": "1"})
        await asyncio.sleep(0)
        assert len(store.calls) == len(observed_pause) + 1 and store.calls[-1][0] == "pause"

    run(main)


def test_store_fail_open_uses_local_pacing() -> None:
    async def main(clock: Callable[[], float]) -> list[float]:
        store = _FakeStore([None])
        lim = Limiter(RateLimit(requests_per_minute=60, store=store), clock=clock)
        t0 = clock()
        times = []
        for _ in range(3):
            (await lim.acquire(1)).release()
            times.append(clock() - t0)
        assert not lim.state.store_available
        assert len(store.calls) == 1  # not asked again while marked down
        return times

    assert run(main) == [pytest.approx(0.0), pytest.approx(1.0), pytest.approx(2.0)]


def test_store_fail_closed_raises_to_the_waiter() -> None:
    async def main(clock: Callable[[], float]) -> None:
        store = _FakeStore([APIConnectionError("redis down"), (0.0, "ok")])
        lim = Limiter(RateLimit(requests_per_minute=60, store=store), clock=clock)
        with pytest.raises(APIConnectionError):
            await lim.acquire(1)
        (await lim.acquire(1)).release()  # the next one asks again

    run(main)


def test_store_grant_for_cancelled_waiter_is_refunded() -> None:
    async def main(clock: Callable[[], float]) -> None:
        gate = asyncio.Event()

        class SlowStore(_FakeStore):
            async def reserve(self, cost: int, rpm: float | None, tpm: float | None) -> Any:
                await gate.wait()
                return await super().reserve(cost, rpm, tpm)

        store = SlowStore([(0.0, "r1"), (0.0, "r2")])
        lim = Limiter(RateLimit(requests_per_minute=60, store=store), clock=clock)
        a = asyncio.create_task(lim.acquire(1))
        await asyncio.sleep(0.1)
        a.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await a
        await asyncio.sleep(0.1)
        assert ("refund", "r1") in store.calls
        assert lim.state.in_flight == 0 and lim.state.started == 0

    run(main)


# -- aiolimiter's semantics, pinned (see docs/rate-limits.md) ------------------


def test_aiolimiter_one_per_interval_spaces_without_burst() -> None:
    async def main(clock: Callable[[], float]) -> list[float]:
        lim = AsyncLimiter(1, 0.1)
        t0 = clock()
        times = []
        for _ in range(5):
            await lim.acquire()
            times.append(round(clock() - t0, 9))
        return times

    assert run(main) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_aiolimiter_per_minute_bursts_the_whole_budget() -> None:
    async def main(clock: Callable[[], float]) -> int:
        lim = AsyncLimiter(600, 60)
        t0 = clock()
        n = 0
        while True:
            await lim.acquire()
            if clock() > t0:
                return n
            n += 1

    assert run(main) == 600  # all 600 at t=0: why AsyncLimiter(rpm, 60) is not used


def test_aiolimiter_serves_small_amounts_before_a_big_one() -> None:
    async def main(clock: Callable[[], float]) -> list[str]:
        # binary-exact rates: with 0.1-style steps aiolimiter's float residue
        # re-arms its timer for "now" forever on a virtual clock
        lim = AsyncLimiter(8, 1)
        await lim.acquire(8)  # empty the bucket
        order: list[str] = []

        async def take(name: str, amount: float) -> None:
            await lim.acquire(amount)
            order.append(name)

        big = asyncio.create_task(take("big", 8))
        await asyncio.sleep(0)
        small = [asyncio.create_task(take(f"s{i}", 1)) for i in range(3)]
        await asyncio.gather(big, *small)
        return order

    # The big waiter came first but the heap is ordered by amount: small
    # ones overtake it (under steady small traffic it can starve).
    assert run(main)[0] == "s0"


# -- issue 11: refunds, adaptive=False, state, logs ------------------------------------


def test_refund_rearms_the_waiting_head_at_once() -> None:
    # 60,000 TPM = 1,000 tokens / s; 20 calls estimated ~1,040 tokens each, using 17
    async def main(clock: Callable[[], float]) -> float:
        lim = Limiter(RateLimit(tokens_per_minute=60_000), clock=clock)
        t0 = clock()

        async def call() -> None:
            permit = await lim.acquire(1040)
            await asyncio.sleep(0.1)  # the answer
            permit.release()
            permit.settle(17)

        await asyncio.gather(*(call() for _ in range(20)))
        return clock() - t0

    # without re-arming, every start waits out ~1 s of the old schedule (~20 s);
    # with it, each refund lets the next call start when its answer comes
    assert run(main) < 2.5


def test_adaptive_false_learns_nothing_and_waits_only_when_told() -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(RateLimit(max_concurrency=8, adaptive=False), clock=clock)
        assert not lim.state.probing and not lim.state.adaptive
        headers = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                   "x-ratelimit-reset-requests": "30s"}  # fmt: skip
        permit = await lim.acquire(1)
        lim.observe(200, headers, permit)
        permit.release()
        assert lim.state.learned_requests_per_minute is None
        t0 = clock()
        permit = await lim.acquire(1)
        assert clock() == t0  # remaining = 0 was not obeyed either
        lim.observe(429, {}, permit)  # no stated wait: nothing
        permit.release()
        (await lim.acquire(1)).release()
        assert clock() == t0
        permit = await lim.acquire(1)
        lim.observe(429, {"retry-after": "3"}, permit)
        permit.release()
        (await lim.acquire(1)).release()
        assert clock() - t0 == pytest.approx(3.0)
        assert lim.state.rate_limited == 2 and lim.state.slowdowns == 0

    run(main)


def test_state_says_why_and_logs_slowdown_and_recovery(caplog: pytest.LogCaptureFixture) -> None:
    async def main(clock: Callable[[], float]) -> None:
        lim = Limiter(None, clock=clock, rng=_ZeroRandom())
        for _ in range(50):  # 100 answers / s accepted, no headers
            permit = await lim.acquire(1)
            await asyncio.sleep(0.01)
            lim.observe(200, {}, permit)
        assert lim.state.accepted_per_second == pytest.approx(100, rel=0.15)
        assert lim.state.reason is None and lim.state.throttled is None
        with caplog.at_level("INFO", logger="rawllm"):
            _overshoot(lim, {"retry-after": "0.5"})
        s = lim.state
        assert s.reason == "429 without rate headers" and s.slowdowns == 1
        assert s.paused_for == pytest.approx(0.5)
        assert s.throttled is not None and s.throttled.startswith("paused 0.5 s")
        assert "slowing down after 429 without rate headers" in caplog.text
        await asyncio.sleep(0.6)
        s = lim.state
        assert s.requests_per_minute is not None and s.requests_per_minute < 100 * 60
        assert s.throttled is not None and s.throttled.startswith("pacing ")
        assert "after 429 without rate headers" in s.throttled
        # the server keeps accepting: the cap climbs back and pacing switches off
        with caplog.at_level("INFO", logger="rawllm"):
            for _ in range(2000):
                permit = await lim.acquire(1)
                await asyncio.sleep(0.005)
                lim.observe(200, {}, permit)
                permit.release()
                if lim._free:  # back on the no-op path
                    break
        assert lim._free
        assert lim.state.reason is None and lim.state.requests_per_minute is None
        assert "recovered" in caplog.text

    run(main)


def test_uncapped_estimates_learn_from_usage_and_capped_ones_never_shrink() -> None:
    async def main(clock: Callable[[], float]) -> tuple[int, int, int]:
        lim = Limiter(RateLimit(tokens_per_minute=60_000), clock=clock)
        uncapped = {"messages": [{"role": "user", "content": "x" * 400}]}
        capped = {**uncapped, "max_tokens": 1000}
        first = lim.estimate(uncapped)
        for _ in range(10):  # answers use 60 tokens where ~1,130 were guessed
            permit = await lim.acquire(lim.estimate(uncapped))
            permit.release()
            permit.settle(60)
        permit = await lim.acquire(lim.estimate(uncapped))
        learned = permit.cost
        permit.release()
        return first, learned, lim.estimate(capped)

    first, learned, capped = run(main)
    assert first == (400 + 16) // 4 + 1024  # characters / 4 (+16 per message) + default
    assert 55 <= learned <= 70  # charged what such calls really use
    assert capped == (400 + 16) // 4 + 1000  # a cap the provider charges: never scaled down
