"""The official ``openai`` SDK with its default httpx transport."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import openai

from benchmarks.contenders import API_KEY, CHAT_PARAMS

NAME = "openai"
APIS = frozenset({"chat"})


def versions() -> dict[str, str]:
    out = {"openai": version("openai")}
    for dep in ("httpx", "httpx2", "pydantic"):
        try:
            out[dep] = version(dep)
        except Exception:
            pass
    return out


def limits(pool: int) -> Any:
    """The SDK's own Limits class (httpx or httpx2, by SDK version), all kept alive."""
    cls = type(openai.DEFAULT_CONNECTION_LIMITS)
    return cls(max_connections=pool, max_keepalive_connections=pool, keepalive_expiry=60)


def http_client(pool: int) -> Any:
    return openai.DefaultAsyncHttpxClient(limits=limits(pool))


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self.sink: Any = None

    async def start(self) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=self._root + "/v1",
            http_client=http_client(self._pool),
            timeout=600.0,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def chat(self) -> int:
        resp = await self._client.chat.completions.create(**CHAT_PARAMS)
        self.sink = resp.choices[0].message.content
        return 1

    async def chat_stream(self) -> int:
        n = 0
        stream = await self._client.chat.completions.create(**CHAT_PARAMS, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    self.sink = chunk.choices[0].delta.content
                n += 1
        return n
