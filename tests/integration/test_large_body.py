"""Request bodies over 1 MiB: sent in chunks (no aiohttp ResourceWarning, which -W error
would raise), and sent whole again on a retry."""

from __future__ import annotations

import rawllm
from rawllm.testing import MockServer


async def test_large_body_is_sent_whole_on_every_attempt() -> None:
    text = "word " * 300_000  # 1.5 MB of prompt
    async with MockServer(faults="500,ok") as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.openai_base_url) as client:
            resp = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": text}]
            )
    assert resp.choices[0].message.content
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 2 and bodies[0] == bodies[1] and len(bodies[0]) > 2**20
