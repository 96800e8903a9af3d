"""Fire many short calls at once and count the ones that failed (rate-limit mode tests)."""

from __future__ import annotations

import asyncio

import rawllm

MSG = [{"role": "user", "content": "hello there"}]


async def run_calls(client: rawllm.OpenAI | rawllm.Anthropic, n: int) -> int:
    """``n`` concurrent calls of the client's API; returns how many raised an ``APIError``."""
    failed = 0

    async def one() -> None:
        nonlocal failed
        try:
            if isinstance(client, rawllm.Anthropic):
                await client.messages.create(model="m", messages=MSG, max_tokens=16)
            else:
                await client.chat.completions.create(model="m", messages=MSG, max_tokens=16)
        except rawllm.APIError:
            failed += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return failed
