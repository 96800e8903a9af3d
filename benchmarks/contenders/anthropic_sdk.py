"""The official ``anthropic`` SDK with its default httpx transport."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import anthropic

from benchmarks.contenders import API_KEY, MESSAGES_PARAMS

NAME = "anthropic"
APIS = frozenset({"messages"})


def versions() -> dict[str, str]:
    out = {"anthropic": version("anthropic")}
    for dep in ("httpx", "httpx2", "pydantic"):
        try:
            out[dep] = version(dep)
        except Exception:
            pass
    return out


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self.sink: Any = None

    async def start(self) -> None:
        cls = type(anthropic.DEFAULT_CONNECTION_LIMITS)
        lim = cls(
            max_connections=self._pool, max_keepalive_connections=self._pool, keepalive_expiry=60
        )
        self._client = anthropic.AsyncAnthropic(
            api_key=API_KEY,
            base_url=self._root,
            http_client=anthropic.DefaultAsyncHttpxClient(limits=lim),
            timeout=600.0,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def messages(self) -> int:
        msg = await self._client.messages.create(**MESSAGES_PARAMS)
        self.sink = getattr(msg.content[0], "text", None)
        return 1

    async def messages_stream(self) -> int:
        n = 0
        stream = await self._client.messages.create(**MESSAGES_PARAMS, stream=True)
        async with stream:
            async for event in stream:
                n += 1
                if event.type == "content_block_delta":
                    self.sink = getattr(event.delta, "text", None)
        return n
