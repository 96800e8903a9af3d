"""The client against a cap on calls in flight that the server states (LiteLLM v3's
headers) or shows (Ollama's full-queue 503), on MockServer at 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from _calls import MSG, run_calls

import rawllm
from rawllm.testing import MockServer

LIMIT = "x-ratelimit-api_key-limit-max_parallel_requests"
REMAINING = "x-ratelimit-api_key-remaining-max_parallel_requests"
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"


async def _post(
    s: aiohttp.ClientSession, url: str, body: dict[str, object]
) -> tuple[int, dict[str, str], bytes]:
    async with s.post(url, json=body, headers={"Authorization": "Bearer k"}) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


async def test_mock_states_the_cap_on_non_streaming_successes_as_litellm_v3() -> None:
    opts = {"max_concurrency": 4, "concurrency_retry_after": 60, "concurrency_headers": True}
    async with MockServer(latency=0.05, **opts) as server, aiohttp.ClientSession() as s:  # type: ignore[arg-type]
        url = server.openai_base_url + "/chat/completions"
        answers = await asyncio.gather(*(_post(s, url, {"model": "m", "messages": MSG})
                                         for _ in range(3)))  # fmt: skip
        assert all(a[0] == 200 and a[1][LIMIT] == "4" for a in answers)
        assert sorted(a[1][REMAINING] for a in answers) == ["1", "2", "3"]
        status, headers, _ = await _post(s, url, {"model": "m", "messages": MSG, "stream": True})
        assert status == 200 and LIMIT not in headers  # a stream's headers go out first


async def test_a_stated_cap_on_the_first_answer_means_no_refusal_at_all() -> None:
    # RateLimit without numbers: the first call probes, its answer states the cap,
    # and the other 99 calls are held at it (before: the burst and the probes above
    # the window were refused)
    opts = {"max_concurrency": 4, "concurrency_retry_after": 60, "concurrency_headers": True}
    async with MockServer(latency=0.02, **opts) as server:  # type: ignore[arg-type]
        limit = rawllm.RateLimit(max_concurrency=64)
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, rate_limit=limit
        ) as client:
            assert await run_calls(client, 100) == 0
            state = client.limiter.state
        assert server.status_counts[429] == 0 and server.status_counts[200] == 100
        assert state.learned_max_concurrency == 4 and server.peak_in_flight <= 4


async def test_a_stated_cap_limits_a_default_client_to_its_first_burst() -> None:
    opts = {"max_concurrency": 4, "concurrency_retry_after": 60, "concurrency_headers": True}
    async with MockServer(latency=0.02, **opts) as server:  # type: ignore[arg-type]
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, max_retries=8
        ) as client:
            assert await run_calls(client, 40) == 0  # 40 at once: 36 refused, nothing known yet
            first = server.status_counts[429]
            assert await run_calls(client, 60) == 0  # then: held at the stated cap
            state = client.limiter.state
        assert server.status_counts[429] == first
        assert state.learned_max_concurrency == 4


async def test_mock_refuses_as_ollama_does_with_its_queue_full() -> None:
    async with MockServer(max_concurrency=2, latency=0.05, queue_503=True) as server:
        async with aiohttp.ClientSession() as s:
            for url, anthropic in ((server.openai_base_url + "/chat/completions", False),
                                   (server.anthropic_base_url + "/v1/messages", True)):  # fmt: skip
                body = {"model": "m", "messages": MSG, "max_tokens": 8}
                answers = await asyncio.gather(*(_post(s, url, body) for _ in range(3)))
                refused = [a for a in answers if a[0] != 200]
                assert len(refused) == 1
                status, headers, raw = refused[0]
                assert status == 503 and "retry-after" not in headers
                error = json.loads(raw)["error"]
                assert error["message"] == QUEUE_FULL
                assert error["type"] == ("overloaded_error" if anthropic else "api_error")


async def test_full_queue_503s_hold_the_client_at_what_the_server_takes() -> None:
    for anthropic in (False, True):
        async with MockServer(max_concurrency=8, latency=0.02, queue_503=True) as server:
            if anthropic:
                client: rawllm.OpenAI | rawllm.Anthropic = rawllm.Anthropic(
                    api_key="k", base_url=server.anthropic_base_url, max_retries=8
                )
            else:
                client = rawllm.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=8)
            async with client:
                assert await run_calls(client, 100) == 0
                state = client.limiter.state
                window = client.limiter._pacer.congestion.window
            assert server.status_counts[503] > 0  # the queue filled ...
            assert state.rate_limited == server.status_counts[503]  # ... each one counted
            assert state.slowdowns >= 1 and window is not None  # ... and the client held
            assert server.status_counts[200] == 100


async def test_a_generic_503_is_retried_and_nothing_else() -> None:
    async with MockServer(faults="503,503,ok", latency=0.0) as server:
        async with rawllm.OpenAI(
            api_key="k", base_url=server.openai_base_url, max_retries=3
        ) as client:
            assert await run_calls(client, 1) == 0
            state = client.limiter.state
            window = client.limiter._pacer.congestion.window
        assert server.status_counts[503] == 2
        assert state.rate_limited == 0 and state.slowdowns == 0 and window is None
