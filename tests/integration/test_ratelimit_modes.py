"""The client against each of MockServer's enforcement modes (127.0.0.1 only, no timing asserts)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from _calls import MSG, run_calls

import rawllm
from rawllm._ratelimit import LEARNED_HEADROOM
from rawllm.testing import MockServer


async def test_per_minute_headers_one_second_windows_charged_refusals_learned() -> None:
    # 6,000 RPM enforced as 100 per 1 s window; refused requests are charged too
    async with MockServer(rpm=6000, window=1.0, charge_rejected=True) as server:
        limit = rawllm.RateLimit(max_concurrency=64)  # no numbers: learns them
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, rate_limit=limit
        ) as client:
            assert await run_calls(client, 250) == 0
            learned = client.limiter.state.learned_requests_per_minute
        assert learned is not None and abs(learned - 6000 * (1 - LEARNED_HEADROOM)) < 1
        assert server.rate_limited <= 3  # <= ~1%


async def test_per_minute_headers_one_second_windows_configured() -> None:
    async with MockServer(rpm=6000, tpm=600_000, window=1.0) as server:
        limit = rawllm.RateLimit(requests_per_minute=6000, tokens_per_minute=600_000)
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, rate_limit=limit
        ) as client:
            assert await run_calls(client, 250) == 0
        assert server.rate_limited <= 3


async def test_window_429_reads_like_openai_and_keeps_per_minute_headers() -> None:
    async with MockServer(rpm=120, window=1.0) as server, aiohttp.ClientSession() as s:
        url = server.openai_base_url + "/chat/completions"
        body = {"model": "m", "messages": MSG}
        statuses, last = [], None
        for _ in range(3):  # 2 per 1 s window
            async with s.post(url, json=body, headers={"Authorization": "Bearer k"}) as r:
                statuses.append(r.status)
                last = (dict(r.headers), await r.read())
        assert statuses == [200, 200, 429]
        assert last is not None
        headers, raw = last
        assert headers["x-ratelimit-limit-requests"] == "120"  # per minute, as advertised
        assert "retry-after" in {k.lower() for k in headers}
        err = json.loads(raw)["error"]
        assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests"
        assert "on requests per min (RPM): Limit 120, Used" in err["message"]


async def test_sporadic_gateway_429s_without_headers_lose_nothing() -> None:
    async with MockServer(gateway_429=0.05, gateway_retry_after=0.05, seed=1) as server:
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, max_retries=4
        ) as client:
            assert await run_calls(client, 400) == 0
            state = client.limiter.state
        assert server.rate_limited > 0
        assert state.rate_limited == server.rate_limited
        assert state.learned_requests_per_minute is None


def _client_for(server: MockServer, anthropic: bool) -> rawllm.OpenAI | rawllm.Anthropic:
    """A default client of either API with room for retries (8)."""
    if anthropic:
        return rawllm.Anthropic(api_key="k", base_url=server.anthropic_base_url, max_retries=8)
    return rawllm.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=8)


async def test_concurrency_cap_converges_without_failures_openai_and_anthropic() -> None:
    for anthropic in (False, True):
        async with MockServer(max_concurrency=8, latency=0.02) as server:
            client = _client_for(server, anthropic)
            async with client:
                assert await run_calls(client, 100) == 0
                state = client.limiter.state
            status = 529 if anthropic else 429
            assert server.status_counts[status] > 0  # the cap was hit ...
            assert state.slowdowns >= 1  # ... and the client slowed down for it
            assert server.status_counts[200] == 100


async def test_litellm_concurrency_refusal_states_a_wait_the_client_does_not_sit_out() -> None:
    # a LiteLLM proxy's max_parallel_requests: 429, retry-after 60 (its rate window),
    # rate_limit_type: max_parallel_requests.  Before: the first burst paused the whole
    # client 60 s and each refused call slept 60 s.
    async with MockServer(max_concurrency=4, latency=0.02, concurrency_retry_after=60) as server:
        async with aiohttp.ClientSession() as s:  # what the mock answers
            url = server.openai_base_url + "/chat/completions"
            body = {"model": "m", "messages": MSG}

            async def post() -> tuple[int, dict[str, str], bytes]:
                async with s.post(url, json=body, headers={"Authorization": "Bearer k"}) as r:
                    return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()

            answers = await asyncio.gather(*(post() for _ in range(6)))
            refused = [a for a in answers if a[0] == 429]
            assert len(refused) == 2 and server.status_counts[200] == 4
            _, headers, raw = refused[0]
            assert headers["retry-after"] == "60"
            assert headers["rate_limit_type"] == "max_parallel_requests"
            assert "Limit type: max_parallel_requests" in json.loads(raw)["error"]["message"]
        for anthropic in (False, True):  # a LiteLLM proxy answers 429 on every route
            server.reset_stats()
            client = _client_for(server, anthropic)
            async with client:
                started = asyncio.get_running_loop().time()
                assert await asyncio.wait_for(run_calls(client, 60), 20.0) == 0
                took = asyncio.get_running_loop().time() - started
                state = client.limiter.state
            assert server.status_counts[429] > 0 and server.status_counts[529] == 0
            assert state.rate_limited == server.status_counts[429]
            assert took < 20.0  # nobody waited out the stated 60 s


async def test_budget_halved_mid_run_is_followed() -> None:
    async with MockServer(rpm=6000, change_after=0.5, change_factor=0.5) as server:
        limit = rawllm.RateLimit(max_concurrency=32)
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, rate_limit=limit, max_retries=6
        ) as client:
            assert await run_calls(client, 200) == 0
            learned = client.limiter.state.learned_requests_per_minute
        assert learned is not None and abs(learned - 3000 * (1 - LEARNED_HEADROOM)) < 1
