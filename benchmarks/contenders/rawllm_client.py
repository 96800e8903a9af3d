"""rawllm, with its defaults except the pool size (the same for every contender)."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import rawllm
from benchmarks.contenders import API_KEY, CHAT_PARAMS, MESSAGES_PARAMS

NAME = "rawllm"
APIS = frozenset({"chat", "messages"})

if not hasattr(rawllm, "OpenAI"):
    raise ImportError("rawllm.OpenAI is not available yet in this tree")


def versions() -> dict[str, str]:
    out = {"rawllm": getattr(rawllm, "__version__", "?")}
    for dep in ("aiohttp", "msgspec", "backoff", "aiolimiter"):
        try:
            out[dep] = version(dep)
        except PackageNotFoundError:
            pass
    return out


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self.sink: Any = None

    async def start(self) -> None:
        pool = rawllm.PoolLimits(max_connections=self._pool)
        self._openai = rawllm.OpenAI(api_key=API_KEY, base_url=self._root + "/v1", pool=pool)
        self._anthropic: Any = None
        if hasattr(rawllm, "Anthropic"):
            self._anthropic = rawllm.Anthropic(api_key=API_KEY, base_url=self._root, pool=pool)

    async def aclose(self) -> None:
        await self._openai.close()
        if self._anthropic is not None:
            await self._anthropic.close()

    async def chat(self) -> int:
        resp = await self._openai.chat.completions.create(**CHAT_PARAMS)
        self.sink = resp.choices[0].message.content
        return 1

    async def chat_stream(self) -> int:
        n = 0
        async with await self._openai.chat.completions.create(**CHAT_PARAMS, stream=True) as s:
            async for chunk in s:
                if chunk.choices:
                    self.sink = chunk.choices[0].delta.content
                n += 1
        return n

    async def chat_stream_ttfe(self) -> tuple[int, float]:
        """``chat_stream`` that also returns when its first event was decoded (perf_counter)."""
        n = 0
        first = 0.0
        async with await self._openai.chat.completions.create(**CHAT_PARAMS, stream=True) as s:
            async for chunk in s:
                if chunk.choices:
                    self.sink = chunk.choices[0].delta.content
                if not n:
                    first = time.perf_counter()
                n += 1
        return n, first

    async def messages(self) -> int:
        if self._anthropic is None:
            raise NotImplementedError("rawllm.Anthropic is not available yet")
        msg = await self._anthropic.messages.create(**MESSAGES_PARAMS)
        self.sink = msg.content[0].text
        return 1

    async def messages_stream(self) -> int:
        if self._anthropic is None:
            raise NotImplementedError("rawllm.Anthropic is not available yet")
        n = 0
        async with await self._anthropic.messages.create(**MESSAGES_PARAMS, stream=True) as s:
            async for event in s:
                n += 1
                if event.type == "content_block_delta":
                    self.sink = getattr(event.delta, "text", None)
        return n
