"""A FastAPI service in front of an LLM, with one shared rawllm client.

- One client for the whole app, opened and closed by the lifespan: every request
  shares its connection pool, retries and rate limits.
- ``POST /ask``: a JSON endpoint (one completion, JSON in and out).
- ``GET /stream?prompt=...``: Server-Sent Events relayed to the browser as the
  model writes.  When the browser goes away, Starlette cancels the generator,
  leaving ``async with`` closes the upstream stream, and the provider stops
  generating (and billing) at once.
- A background task owned by the lifespan logs the token usage of every call
  (``GET /usage`` shows the totals), so no request waits for the logging.

Run it against the mock (or any OpenAI-compatible server)::

    rawllm mock &
    export OPENAI_BASE_URL=http://127.0.0.1:8100/v1 OPENAI_API_KEY=anything
    uvicorn examples.fastapi_app:app --port 8001
    curl -N 'http://127.0.0.1:8001/stream?prompt=Tell+me+about+tides'

Needs ``pip install fastapi uvicorn``; tested end to end by
``tests/integration/test_fastapi_example.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

import rawllm

log = logging.getLogger("fastapi_app")
MODEL = "gpt-4o-mini"


@dataclass
class UsageLog:
    """Usage records queued by the endpoints, logged by one background task."""

    queue: asyncio.Queue[tuple[str, str, int, int]] = field(default_factory=asyncio.Queue)
    totals: Counter[str] = field(default_factory=Counter)

    def record(self, route: str, outcome: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.queue.put_nowait((route, outcome, prompt_tokens, completion_tokens))  # never blocks

    async def run(self) -> None:
        while True:
            route, outcome, prompt, completion = await self.queue.get()
            self.totals["calls"] += 1
            self.totals[outcome] += 1
            self.totals["prompt_tokens"] += prompt
            self.totals["completion_tokens"] += completion
            log.info("%s %s: %d prompt + %d completion tokens", route, outcome, prompt, completion)
            self.queue.task_done()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    usage = UsageLog()
    logger = asyncio.create_task(usage.run())
    async with rawllm.OpenAI(  # OPENAI_API_KEY, OPENAI_BASE_URL
        timeout=rawllm.Timeout(connect=5, read=60, total=120),
        rate_limit=rawllm.RateLimit(requests_per_minute=3_000, max_concurrency=64),
    ) as client:
        app.state.client, app.state.usage = client, usage
        yield
    await usage.queue.join()  # log what is queued, then stop
    logger.cancel()


app = FastAPI(lifespan=lifespan)


class Ask(BaseModel):
    prompt: str


class Answer(BaseModel):
    answer: str
    request_id: str | None


@app.post("/ask")
async def ask(body: Ask, request: Request) -> Answer:
    client: rawllm.OpenAI = request.app.state.client
    resp = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": body.prompt}]
    )
    if resp.usage is not None:
        request.app.state.usage.record(
            "/ask", "ok", resp.usage.prompt_tokens, resp.usage.completion_tokens
        )
    return Answer(answer=resp.choices[0].message.content or "", request_id=resp._request_id)


@app.get("/stream")
async def stream(prompt: str, request: Request) -> StreamingResponse:
    client: rawllm.OpenAI = request.app.state.client
    usage: UsageLog = request.app.state.usage

    async def events() -> AsyncIterator[str]:
        sent = 0
        upstream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            async with upstream:  # leaving it, for any reason, closes the upstream call
                async for text in upstream.text_deltas():
                    sent += 1
                    yield f"data: {json.dumps({'text': text})}\n\n"
            final = upstream.final()
            if final.usage is not None:
                usage.record(
                    "/stream", "ok", final.usage.prompt_tokens, final.usage.completion_tokens
                )
            yield "event: done\ndata: {}\n\n"
        except (asyncio.CancelledError, GeneratorExit):  # the browser went away
            usage.record("/stream", "disconnected", 0, sent)
            raise

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@app.get("/usage")
async def totals(request: Request) -> dict[str, int]:
    return dict(request.app.state.usage.totals)
