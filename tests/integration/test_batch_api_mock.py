"""The mock's Batch API endpoints, driven by the official SDKs (wire compatibility) and rawllm."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import pytest
from _serve import one_route

import rawllm
from rawllm.testing import MockServer

PHASE = 0.05


def _chat_lines(n: int, url: str = "/v1/chat/completions") -> bytes:
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": url,
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]},
        }
        for i in range(n)
    ]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def _anthropic_requests(n: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"a{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": f"hi {i}"}],
            },
        }
        for i in range(n)
    ]


async def _wait_openai(get: Any, batch_id: str, seen: list[str]) -> Any:
    for _ in range(400):
        b = await get(batch_id)
        if not seen or seen[-1] != b.status:
            seen.append(b.status)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        await asyncio.sleep(PHASE / 5)
    raise AssertionError(f"batch never ended: {seen}")


async def test_official_openai_sdk_drives_the_lifecycle() -> None:
    async with MockServer(batch_phase=PHASE, faults="ok,500,ok,400") as server:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
        try:
            f = await client.files.create(file=("in.jsonl", _chat_lines(6)), purpose="batch")
            assert (
                f.purpose == "batch" and f.bytes == len(_chat_lines(6)) and f.filename == "in.jsonl"
            )
            b = await client.batches.create(
                input_file_id=f.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"run": "t"},
            )
            assert b.status == "validating" and b.metadata == {"run": "t"}
            seen: list[str] = []
            b = await _wait_openai(client.batches.retrieve, b.id, seen)
            assert seen[0] == "validating" and seen[-1] == "completed"
            assert "in_progress" in seen and "finalizing" in seen
            assert b.request_counts is not None
            assert (
                b.request_counts.total,
                b.request_counts.completed,
                b.request_counts.failed,
            ) == (6, 4, 2)
            out = (await client.files.content(b.output_file_id)).content.splitlines()
            err = (await client.files.content(b.error_file_id)).content.splitlines()
            outs = [json.loads(x) for x in out]
            errs = [json.loads(x) for x in err]
            assert sorted(o["custom_id"] for o in outs) == ["q0", "q2", "q4", "q5"]
            assert all(o["response"]["status_code"] == 200 for o in outs)
            assert outs[0]["response"]["body"]["object"] == "chat.completion"
            assert {e["custom_id"]: e["response"]["status_code"] for e in errs} == {
                "q1": 500,
                "q3": 400,
            }
            page = await client.batches.list(limit=10)
            assert [x.id for x in page.data] == [b.id]
            files = [x.id async for x in client.files.list()]
            assert f.id in files and b.output_file_id in files
            assert (await client.files.delete(f.id)).deleted is True
            with pytest.raises(openai.NotFoundError):
                await client.files.retrieve(f.id)
        finally:
            await client.close()


async def test_official_openai_sdk_cancel_and_validation_failure() -> None:
    async with MockServer(batch_phase=PHASE * 4) as server:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
        try:
            f = await client.files.create(file=("in.jsonl", _chat_lines(40)), purpose="batch")
            b = await client.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            await asyncio.sleep(PHASE * 6)  # halfway through in_progress
            c = await client.batches.cancel(b.id)
            assert c.status == "cancelling"
            b = await _wait_openai(client.batches.retrieve, b.id, [])
            assert b.status == "cancelled"
            done = (await client.files.content(b.output_file_id)).content.count(b"\n")
            err = (await client.files.content(b.error_file_id)).content.splitlines()
            assert 0 < done < 40 and done + len(err) == 40
            assert {json.loads(x)["error"]["code"] for x in err} == {"batch_cancelled"}

            bad = _chat_lines(2) + b"not json\n" + _chat_lines(1, url="/v1/embeddings")
            f2 = await client.files.create(file=("bad.jsonl", bad), purpose="batch")
            b2 = await client.batches.create(
                input_file_id=f2.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            b2 = await _wait_openai(client.batches.retrieve, b2.id, [])
            assert b2.status == "failed" and b2.errors is not None and b2.errors.data is not None
            codes = [(e.code, e.line) for e in b2.errors.data]
            # q0 repeats (duplicate custom_id) before its url mismatch is seen
            assert ("invalid_json_line", 3) in codes and ("url_mismatch", 4) in codes
            with pytest.raises(openai.BadRequestError, match="jsonl"):
                await client.files.create(file=("in.txt", b"x"), purpose="batch")
        finally:
            await client.close()


async def test_expired_batch_keeps_done_lines() -> None:
    async with MockServer(batch_phase=PHASE * 4, batch_window=PHASE * 6) as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.openai_base_url) as client:
            f = await client.files.create(file=_chat_lines(20), purpose="batch")
            b = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions")
            b = await _wait_openai(client.batches.retrieve, b.id, [])
            assert b.status == "expired" and b.expired_at is not None
            assert b.output_file_id is not None and b.error_file_id is not None
            async with await client.files.content(b.error_file_id) as body:
                err = [json.loads(x) async for x in body.iter_lines()]
            async with await client.files.content(b.output_file_id) as body:
                out = [x async for x in body.iter_lines()]
            assert len(out) + len(err) == 20 and len(out) > 0
            assert {e["error"]["code"] for e in err} == {"batch_expired"}


async def test_official_anthropic_sdk_drives_message_batches() -> None:
    async with MockServer(batch_phase=PHASE, faults="ok,ok,529") as server:
        client = anthropic.AsyncAnthropic(
            api_key="k", base_url=server.anthropic_base_url, max_retries=0
        )
        try:
            mb = await client.messages.batches.create(requests=_anthropic_requests(5))  # type: ignore[arg-type]
            assert mb.processing_status == "in_progress" and mb.request_counts.processing == 5
            for _ in range(400):
                mb = await client.messages.batches.retrieve(mb.id)
                if mb.processing_status == "ended":
                    break
                await asyncio.sleep(PHASE / 5)
            assert mb.processing_status == "ended" and mb.results_url is not None
            assert mb.request_counts.succeeded == 4 and mb.request_counts.errored == 1
            results = [r async for r in await client.messages.batches.results(mb.id)]
            by_id = {r.custom_id: r.result for r in results}
            assert set(by_id) == {f"a{i}" for i in range(5)}
            assert by_id["a2"].type == "errored"
            assert by_id["a0"].type == "succeeded" and by_id["a0"].message.content[0].type == "text"
            listed = [x.id async for x in client.messages.batches.list()]
            assert listed == [mb.id]
            with pytest.raises(anthropic.BadRequestError):
                await client.messages.batches.create(
                    requests=[{"custom_id": "bad id!", "params": {}}]  # type: ignore[list-item,typeddict-item]
                )
        finally:
            await client.close()


async def test_rawllm_message_batches_stream_results_and_cancel() -> None:
    async with MockServer(batch_phase=PHASE * 4) as server:
        async with rawllm.Anthropic(api_key="k", base_url=server.anthropic_base_url) as client:
            mb = await client.messages.batches.create(requests=_anthropic_requests(30))
            await asyncio.sleep(PHASE * 3)
            mb = await client.messages.batches.cancel(mb.id)
            assert mb.processing_status == "canceling" and mb.cancel_initiated_at is not None
            while mb.processing_status != "ended":
                await asyncio.sleep(PHASE / 5)
                mb = await client.messages.batches.retrieve(mb.id)
            counts = mb.request_counts
            assert counts.canceled > 0 and counts.succeeded + counts.canceled == 30
            types = [r.result.type async for r in client.messages.batches.results(mb.id)]
            assert types.count("canceled") == counts.canceled and len(types) == 30
            page = await client.messages.batches.list(limit=1)
            assert [x.id for x in page.data] == [mb.id]
            deleted = await client.messages.batches.delete(mb.id)
            assert deleted.id == mb.id
            with pytest.raises(rawllm.NotFoundError):
                await client.messages.batches.retrieve(mb.id)


async def test_rawllm_files_and_batches_surface() -> None:
    async with MockServer(batch_phase=PHASE) as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.openai_base_url) as client:
            f = await client.files.create(file=("in.jsonl", _chat_lines(3)), purpose="batch")
            assert (await client.files.retrieve(f.id)).bytes == len(_chat_lines(3))
            upload = server.requests[-2]
            assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
            b = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions")
            b = await _wait_openai(client.batches.retrieve, b.id, [])
            assert b.status == "completed" and b.output_file_id is not None
            body = await (await client.files.content(b.output_file_id)).read()
            assert body.count(b"\n") == 3
            big = _chat_lines(9000)  # over aiohttp's 1 MiB default body cap
            assert len(big) > 1_200_000
            f2 = await client.files.create(file=("big.jsonl", big), purpose="batch")
            assert f2.bytes == len(big)
            assert await (await client.files.content(f2.id)).read() == big
            all_batches = [x.id async for x in client.batches.list(limit=1)]
            assert all_batches == [b.id]
            with pytest.raises(rawllm.BadRequestError):
                await client.batches.cancel(b.id)


async def test_download_is_retried_before_its_first_byte() -> None:
    from aiohttp import web

    calls: list[str] = []

    async def content(request: web.Request) -> web.StreamResponse:
        calls.append(request.headers.get("Accept", ""))
        if len(calls) == 1:
            return web.json_response({"error": {"message": "busy"}}, status=503)
        resp = web.StreamResponse(headers={"x-request-id": "req_dl"})
        await resp.prepare(request)
        for i in range(3):
            await resp.write(b'{"n": %d}\n' % i)
        await resp.write_eof()
        return resp

    async with one_route(content, method="GET", path="/v1/files/file-1/content") as base_url:
        async with rawllm.OpenAI(api_key="k", base_url=base_url) as client:
            async with await client.files.content("file-1") as body:
                assert body.request_id == "req_dl"
                lines = [json.loads(x) async for x in body.iter_lines()]
    assert lines == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert calls == ["application/octet-stream"] * 2
