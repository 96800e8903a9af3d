"""Run the prompts of examples/prompts.jsonl through one client, under rate limits.

The library version of ``rawllm batch examples/prompts.jsonl -o results.jsonl``:
each line is a Batch-API-style request (``custom_id``, ``body``); the answers are
printed as they finish, one result per line, failures included.

    export OPENAI_API_KEY=... [OPENAI_BASE_URL=...]
    python examples/batch_jsonl.py
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import rawllm

PROMPTS = Path(__file__).with_name("prompts.jsonl")


async def main() -> None:
    lines = [json.loads(line) for line in PROMPTS.read_text().splitlines() if line.strip()]
    async with rawllm.OpenAI(
        rate_limit=rawllm.RateLimit(requests_per_minute=30_000, tokens_per_minute=10_000_000),
        timeout=rawllm.Timeout(connect=5, read=60, total=120),
    ) as client:
        ok = failed = 0
        async for r in client.batch((line["body"] for line in lines), concurrency=32):
            custom_id = lines[r.index]["custom_id"]
            if r.ok:
                ok += 1
                text = r.response.choices[0].message.content or ""
                print(f"{custom_id}: {text[:60]!r}")
            else:
                failed += 1
                print(f"{custom_id}: failed: {type(r.error).__name__}: {r.error}")
        print(f"{ok} succeeded, {failed} failed")


if __name__ == "__main__":
    asyncio.run(main())
