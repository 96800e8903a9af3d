"""client.batch() against MockServer: exactly one result per input, typed failures, bounds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import rawllm
from rawllm._batch import BatchResult, InvalidRequestError, run_batch
from rawllm.testing import MockServer
from rawllm.types.openai import ChatCompletion, CreateEmbeddingResponse


def chat(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"question {i}"}],
        **extra,
    }


def fault(i: int, script: str) -> dict[str, Any]:
    """A chat request that meets ``script`` on its own (keyed, so concurrency can't reorder)."""
    return chat(i, extra_headers={"x-mock-faults": script, "x-mock-key": f"item-{i}"})


def openai(server: MockServer, **kw: Any) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key="sk-test-batch", base_url=server.openai_base_url, **kw)


async def collect(results: AsyncIterator[BatchResult]) -> list[BatchResult]:
    return [r async for r in results]


async def test_every_input_answered_once_with_typed_failures(mock_server: MockServer) -> None:
    requests: list[Any] = [chat(i) for i in range(40)]
    requests[3] = fault(3, "400")  # a 400: not retried
    requests[7] = fault(7, "500,500,500")  # retries exhausted (max_retries=2)
    requests[11] = fault(11, "500,ok")  # recovered after one retry
    requests[15] = {**fault(15, "stall=5"), "timeout": 0.3}  # a timeout (per-call deadline)
    requests[19] = {"model": "gpt-4o-mini"}  # missing messages: bad parameters, never sent
    requests[23] = "not a dict"
    requests[27] = chat(27, stream=True)  # streams are refused in a batch
    async with openai(mock_server, max_retries=2) as client:
        results = await collect(client.batch(requests, concurrency=8))

    assert sorted(r.index for r in results) == list(range(40))
    by_index = {r.index: r for r in results}
    failed = {i for i, r in by_index.items() if r.error is not None}
    assert failed == {3, 7, 15, 19, 23, 27}

    assert isinstance(by_index[3].error, rawllm.BadRequestError)
    assert by_index[3].retries == 0
    assert isinstance(by_index[7].error, rawllm.InternalServerError)
    assert by_index[7].retries == 2
    assert by_index[11].ok and by_index[11].retries == 1
    assert isinstance(by_index[15].error, rawllm.APITimeoutError)
    assert isinstance(by_index[19].error, InvalidRequestError)
    assert isinstance(by_index[19].error.__cause__, TypeError)
    assert "messages" in str(by_index[19].error)
    assert isinstance(by_index[23].error, InvalidRequestError)
    assert isinstance(by_index[27].error, InvalidRequestError)
    for i, r in by_index.items():
        assert (r.response is None) == (r.error is not None), i
        assert r.latency >= 0
        if r.ok:
            assert isinstance(r.response, ChatCompletion)
            assert f"question {i}" in (r.response.choices[0].message.content or "")


async def test_in_flight_never_exceeds_concurrency() -> None:
    async with MockServer(latency=0.02) as server, openai(server) as client:
        results = await collect(client.batch((chat(i) for i in range(60)), concurrency=5))
        assert len(results) == 60
        assert 1 < server.peak_in_flight <= 5


async def test_generator_is_consumed_lazily(mock_server: MockServer) -> None:
    pulled = 0

    def gen() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield chat(i)

    async with openai(mock_server) as client:
        seen = 0
        async with client.batch(gen(), concurrency=4, buffer=2) as results:
            async for _ in results:
                seen += 1
                # never more than concurrency + buffer (+1 being handed over) ahead
                assert pulled - seen <= 4 + 2 + 1
                if seen == 50:
                    break
        assert pulled < 60
        assert mock_server.in_flight == 0


async def test_async_iterable_and_custom_ids(mock_server: MockServer) -> None:
    async def agen() -> AsyncIterator[dict[str, Any]]:
        for i in range(25):
            await asyncio.sleep(0)
            yield {"custom_id": f"c{i}", **chat(i)}

    async with openai(mock_server) as client:
        results = await collect(client.batch(agen(), concurrency=6))
    assert sorted(r.index for r in results) == list(range(25))
    assert {r.index: r.custom_id for r in results} == {i: f"c{i}" for i in range(25)}
    assert all(r.ok for r in results)
    # custom_id is not a create() parameter: it was never sent
    assert len(mock_server.requests) == 25
    assert all("custom_id" not in req.json for req in mock_server.requests)


async def test_batch_api_lines_pick_the_endpoint_per_item(mock_server: MockServer) -> None:
    lines = [
        {"custom_id": "chat", "method": "POST", "url": "/v1/chat/completions", "body": chat(0)},
        {
            "custom_id": "emb",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": "hello"},
        },
        {
            "custom_id": "resp",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-4.1", "input": "hi"},
        },
        {"custom_id": "bad-url", "url": "/v1/images", "body": {}},
        {"custom_id": "bad-body", "url": "/v1/embeddings", "body": "text"},
        {"custom_id": "anthropic-only", "url": "/v1/messages", "body": {}},
    ]
    async with openai(mock_server) as client:
        results = {r.custom_id: r for r in await collect(client.batch(lines))}
    assert type(results["chat"].response).__name__ == "ChatCompletion"
    assert isinstance(results["emb"].response, CreateEmbeddingResponse)
    assert type(results["resp"].response).__name__ == "Response"
    assert isinstance(results["bad-url"].error, InvalidRequestError)
    assert isinstance(results["bad-body"].error, InvalidRequestError)  # custom_id kept
    assert isinstance(results["anthropic-only"].error, InvalidRequestError)
    assert "no 'messages' endpoint" in str(results["anthropic-only"].error)


async def test_embeddings_endpoint_argument(mock_server: MockServer) -> None:
    reqs = [{"model": "text-embedding-3-small", "input": f"text {i}"} for i in range(5)]
    async with openai(mock_server) as client:
        results = await collect(client.batch(reqs, endpoint="embeddings", concurrency=2))
    assert all(isinstance(r.response, CreateEmbeddingResponse) for r in results)
    assert {r.index for r in results} == set(range(5))


async def test_anthropic_messages(mock_server: MockServer) -> None:
    reqs: list[Any] = [
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": f"q{i}"}],
        }
        for i in range(6)
    ]
    reqs.append({"custom_id": "mb", "params": {**reqs[0], "max_tokens": 10}})
    reqs.append({"model": "claude-sonnet-4-5", "messages": []})  # no max_tokens
    async with rawllm.Anthropic(
        api_key="sk-ant-test", base_url=mock_server.anthropic_base_url
    ) as client:
        results = await collect(client.batch(reqs, concurrency=3))
    by_index = {r.index: r for r in results}
    assert sorted(by_index) == list(range(8))
    for i in range(7):
        assert type(by_index[i].response).__name__ == "Message", by_index[i].error
    assert by_index[6].custom_id == "mb"
    assert isinstance(by_index[7].error, InvalidRequestError)


async def test_client_rate_limit_applies(mock_server: MockServer) -> None:
    limit = rawllm.RateLimit(requests_per_minute=1200)  # one start every 50 ms
    async with openai(mock_server, rate_limit=limit) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await collect(client.batch([chat(i) for i in range(8)], concurrency=8))
        elapsed = loop.time() - t0
    assert len(results) == 8
    assert elapsed >= 0.25  # 8 evenly spaced starts take at least ~7 intervals


async def test_retries_on_429_go_through_the_client(mock_server: MockServer) -> None:
    reqs = [fault(0, "429:retry-after-ms=10,ok"), chat(1)]
    async with openai(mock_server) as client:
        results = {r.index: r for r in await collect(client.batch(reqs, concurrency=2))}
        assert client.limiter.state.rate_limited >= 1  # the 429 reached the shared limiter
    assert results[0].ok and results[0].retries == 1
    assert results[1].ok and results[1].retries == 0
    assert mock_server.status_counts[429] == 1


async def test_source_error_after_started_calls(mock_server: MockServer) -> None:
    def gen() -> Iterator[dict[str, Any]]:
        yield chat(0)
        yield chat(1)
        raise RuntimeError("input broke")

    async with openai(mock_server) as client:
        got: list[BatchResult] = []
        with pytest.raises(RuntimeError, match="input broke"):
            async for r in client.batch(gen(), concurrency=4):
                got.append(r)
    assert sorted(r.index for r in got) == [0, 1]


async def test_empty_input(mock_server: MockServer) -> None:
    async with openai(mock_server) as client:
        assert await collect(client.batch([])) == []


async def test_bad_arguments_fail_at_once(mock_server: MockServer) -> None:
    async with openai(mock_server) as client:
        with pytest.raises(ValueError):
            client.batch([], concurrency=0)
        with pytest.raises(InvalidRequestError):
            client.batch([], endpoint="images")
        with pytest.raises(InvalidRequestError):
            client.batch([], endpoint="messages")


async def test_aclose_cancels_calls_in_flight() -> None:
    async with MockServer(latency=30) as server, openai(server) as client:
        results = client.batch([chat(i) for i in range(10)], concurrency=4)
        waiter = asyncio.ensure_future(anext(results))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if server.in_flight == 4:
                break
        assert server.in_flight == 4
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await results.aclose()
        for _ in range(200):
            if server.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert server.in_flight == 0
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


async def test_consumer_cancelled_by_timeout_leaves_nothing_pending() -> None:
    async with MockServer(latency=30) as server, openai(server) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                async for _ in client.batch([chat(i) for i in range(10)], concurrency=3):
                    pass
        gc.collect()
        await asyncio.sleep(0.05)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


async def test_break_without_close_is_cleaned_up(mock_server: MockServer) -> None:
    async with openai(mock_server) as client:
        async for _ in client.batch([chat(i) for i in range(30)], concurrency=4):
            break
        gc.collect()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(asyncio.all_tasks()) == 1:
                break
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


def test_run_batch_is_what_client_batch_returns() -> None:
    client = rawllm.OpenAI(api_key="sk-test-batch", base_url="http://127.0.0.1:9/v1")
    assert type(client.batch([])) is type(run_batch(client, []))
