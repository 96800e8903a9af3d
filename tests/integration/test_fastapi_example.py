"""examples/fastapi_app.py under a real uvicorn server on 127.0.0.1, with an HTTP client.

The app's client talks to a MockServer whose streams are paced, so a browser
that disconnects mid-answer can be seen to stop the upstream call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from rawllm.testing import MockServer

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
TOKENS = 400  # words per streamed answer: 20 s at the mock's pace, far longer than the test


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def mock() -> AsyncIterator[MockServer]:
    async with MockServer(
        api_key="app-key", strict_models=True, tokens=TOKENS, tokens_per_second=20
    ) as server:
        yield server


@pytest.fixture
async def app_url(mock: MockServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("OPENAI_BASE_URL", mock.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "app-key")
    module = load_example(monkeypatch)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        module.app, lifespan="on", log_level="warning", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def usage(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/usage") as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def wait_for(condition: Any, what: str) -> None:
    for _ in range(1000):  # generous: the machine may be busy
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_json_endpoint_and_usage_logged_in_the_background(
    app_url: str, mock: MockServer
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(app_url + "/ask", json={"prompt": "hello there"}) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert "hello there" in body["answer"]
        assert body["request_id"].startswith("req_")
        assert mock.requests[-1].headers["authorization"] == "Bearer app-key"

        async def logged() -> bool:
            return (await usage(session, app_url)).get("ok") == 1

        await wait_for(logged, "the usage of /ask logged")
        totals = await usage(session, app_url)
        assert totals["calls"] == 1 and totals["completion_tokens"] == TOKENS


async def test_sse_relay_streams_and_the_disconnect_cancels_upstream(
    app_url: str, mock: MockServer
) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(app_url + "/stream", params={"prompt": "tell me about tides"})
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        texts: list[str] = []
        async for line in resp.content:
            if line.startswith(b"data: "):
                texts.append(json.loads(line[6:])["text"])
            if len(texts) == 3:
                break
        assert mock.in_flight == 1  # the upstream stream is running
        resp.close()  # the browser goes away mid-answer

        async def upstream_closed() -> bool:
            return mock.in_flight == 0

        await wait_for(upstream_closed, "the upstream call closed after the disconnect")

        async def logged() -> bool:
            return (await usage(session, app_url)).get("disconnected") == 1

        await wait_for(logged, "the disconnect logged")
        totals = await usage(session, app_url)
        assert 3 <= totals["completion_tokens"] < TOKENS  # cut short, not read to the end


async def test_sse_relay_to_the_end(mock: MockServer, app_url: str) -> None:
    mock.tokens_per_second = None  # no pacing: the whole answer at once
    async with aiohttp.ClientSession() as session:
        async with session.get(app_url + "/stream", params={"prompt": "short"}) as resp:
            raw = (await resp.read()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "event: done\ndata: {}"
    text = "".join(json.loads(e[6:])["text"] for e in events[:-1])
    assert text.split()[:1] == ["short"]
