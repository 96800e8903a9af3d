"""The client's rate limiting against MockServer in strict-provider mode (127.0.0.1)."""

from __future__ import annotations

import asyncio
import bisect
import math
import time

import pytest

import rawllm
from rawllm._limiter import Limiter
from rawllm._ratelimit import LEARNED_HEADROOM
from rawllm.testing import MockServer

MSG = [{"role": "user", "content": "hello there"}]


def _max_in_closed_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    return max(bisect.bisect_right(times, t + width) - i for i, t in enumerate(times))


async def _run(client: rawllm.OpenAI, n: int) -> tuple[int, float]:
    failures = 0
    t0 = time.monotonic()

    async def one() -> None:
        nonlocal failures
        try:
            await client.chat.completions.create(model="m", messages=MSG, max_tokens=16)
        except rawllm.APIError:
            failures += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return failures, time.monotonic() - t0


async def test_no_429_when_limits_are_set_right() -> None:
    rpm, n = 3000.0, 120  # 50 / s, about 2.4 s
    async with MockServer(rpm=rpm) as server:
        limit = rawllm.RateLimit(requests_per_minute=rpm, max_concurrency=32)
        async with rawllm.OpenAI(
            api_key="sk-test", base_url=server.openai_base_url, rate_limit=limit
        ) as client:
            failures, elapsed = await _run(client, n)
            assert failures == 0
            assert server.rate_limited == 0
            arrivals = [r.time for r in server.requests]
            assert len(arrivals) == n
            assert _max_in_closed_window(arrivals) <= math.ceil(rpm / 60) + 1 + 1  # +1: network
            assert elapsed >= (n - 1) * 60 / rpm * 0.95
            assert client.limiter.state.in_flight == 0


async def test_no_429_when_nothing_is_configured_but_the_probe_learns() -> None:
    rpm, n = 3000.0, 120
    async with MockServer(rpm=rpm) as server:
        limit = rawllm.RateLimit(max_concurrency=64)
        async with rawllm.OpenAI(
            api_key="sk-test", base_url=server.openai_base_url, rate_limit=limit
        ) as client:
            failures, _ = await _run(client, n)
            assert failures == 0
            assert server.rate_limited == 0
            learned = client.limiter.state.learned_requests_per_minute
            assert learned == pytest.approx(rpm * (1 - LEARNED_HEADROOM))


async def test_anthropic_headers_are_learned() -> None:
    rpm, n = 3000.0, 60
    async with MockServer(rpm=rpm) as server:
        async with rawllm.Anthropic(
            api_key="sk-ant-test",
            base_url=server.anthropic_base_url,
            rate_limit=rawllm.RateLimit(max_concurrency=16),
        ) as client:

            async def one() -> None:
                await client.messages.create(model="m", max_tokens=16, messages=MSG)

            await asyncio.gather(*(one() for _ in range(n)))
            assert server.rate_limited == 0
            learned = client.limiter.state.learned_requests_per_minute
            assert learned == pytest.approx(rpm * (1 - LEARNED_HEADROOM))


async def test_recovery_when_limits_are_set_wrong() -> None:
    # Configured at 4x the provider's budget, tokens binding as well: the
    # headers correct it after the first answers and nothing fails.
    rpm, tpm, n = 1200.0, 60_000.0, 120  # 20 / s; tokens allow ~33 / s
    async with MockServer(rpm=rpm, tpm=tpm) as server:
        limit = rawllm.RateLimit(
            requests_per_minute=rpm * 4, tokens_per_minute=tpm * 4, max_concurrency=8
        )
        async with rawllm.OpenAI(
            api_key="sk-test", base_url=server.openai_base_url, rate_limit=limit, max_retries=5
        ) as client:
            failures, elapsed = await _run(client, n)
            state = client.limiter.state
            assert failures == 0
            assert server.rate_limited <= 0.05 * n
            assert state.requests_per_minute is not None
            assert state.requests_per_minute <= rpm
            assert elapsed >= (n - 1) * 60 / rpm * 0.95


async def test_one_isolated_429_only_delays_its_own_call() -> None:
    async with MockServer(faults="429:retry-after=1") as server:
        async with rawllm.OpenAI(
            api_key="sk-test", base_url=server.openai_base_url, max_retries=2
        ) as client:
            first = asyncio.create_task(
                client.chat.completions.create(model="m", messages=MSG, max_tokens=4)
            )
            for _ in range(500):
                if server.status_counts[429]:
                    break
                await asyncio.sleep(0.01)
            t429 = server.requests[0].time
            # a gateway's random 429: calls made after it are not held back ...
            others = [
                asyncio.create_task(
                    client.chat.completions.create(model="m", messages=MSG, max_tokens=4)
                )
                for _ in range(5)
            ]
            await asyncio.gather(first, *others)
            later = sorted(r.time for r in server.requests[1:])
            assert len(later) == 6
            assert later[4] < t429 + 0.9
            # ... only the refused call waits its Retry-After
            assert later[5] >= t429 + 0.99
            assert client.limiter.state.rate_limited == 1
            assert client.limiter.state.slowdowns == 0
            assert server.status_counts[429] == 1


async def test_a_stream_holds_its_slot_until_closed() -> None:
    async with MockServer(tokens=5) as server:
        async with rawllm.OpenAI(
            api_key="sk-test",
            base_url=server.openai_base_url,
            rate_limit=rawllm.RateLimit(max_concurrency=1),
        ) as client:
            await client.chat.completions.create(model="m", messages=MSG)  # ends the probe
            stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
            async with stream:
                other = asyncio.create_task(client.chat.completions.create(model="m", messages=MSG))
                seen = 0
                async for _ in stream:
                    await asyncio.sleep(0.02)
                    assert not other.done()
                    state = client.limiter.state
                    assert (state.in_flight, state.waiting) == (1, 1)
                    seen += 1
                assert seen >= 3
            await asyncio.wait_for(other, 5)  # the slot came free when the stream ended
            assert client.limiter.state.in_flight == 0


async def test_cancelled_callers_consume_no_budget() -> None:
    rpm = 600.0  # one start per 0.1 s
    async with MockServer(rpm=rpm) as server:
        async with rawllm.OpenAI(
            api_key="sk-test",
            base_url=server.openai_base_url,
            rate_limit=rawllm.RateLimit(requests_per_minute=rpm),
        ) as client:
            tasks = [
                asyncio.create_task(
                    client.chat.completions.create(model="m", messages=MSG, max_tokens=4)
                )
                for _ in range(10)
            ]
            await asyncio.sleep(0.05)
            for t in tasks[1:]:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            t0 = time.monotonic()
            await client.chat.completions.create(model="m", messages=MSG, max_tokens=4)
            # the next call waits at most one interval, not ten
            assert time.monotonic() - t0 < 0.15
            assert client.limiter.state.started == 2


async def test_a_token_budget_is_charged_each_calls_estimate_and_no_budget_never_estimates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The estimate is made once a limit is in force (and only then): the body the
    estimator sees is the one sent, and the limiter is asked for its figure."""
    seen: list[dict[str, object]] = []
    acquired: list[int] = []
    acquire = Limiter.acquire

    def estimator(body: dict[str, object]) -> int:
        seen.append(body)
        return 123

    async def spy(self: Limiter, tokens: int) -> object:
        acquired.append(int(tokens))
        return await acquire(self, tokens)

    monkeypatch.setattr(Limiter, "acquire", spy)
    async with MockServer() as server:
        for limit, want in (
            (rawllm.RateLimit(tokens_per_minute=10_000_000, estimator=estimator), 2),
            (rawllm.RateLimit(estimator=estimator), 0),  # nothing limits: no estimate
        ):
            seen.clear()
            acquired.clear()
            async with rawllm.OpenAI(
                api_key="sk-test", base_url=server.openai_base_url, rate_limit=limit
            ) as client:
                for _ in range(2):
                    await client.chat.completions.create(model="m", messages=MSG, max_tokens=16)
            assert len(seen) == want
            assert all(b["messages"] == MSG and b["max_tokens"] == 16 for b in seen)
            if want:
                assert acquired == [123] * want
            else:  # (a first call may still pass the limiter, to learn): never charged
                assert all(t == 0 for t in acquired)
