"""Raw ``httpx`` + ``httpx-sse``: what a user of httpx writes by hand.

Bodies go out with httpx's ``json=`` and answers come back with
``response.json()`` / ``json.loads(sse.data)`` into dicts, as httpx-sse's
README shows; no retries, limits or error mapping.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from benchmarks.contenders import API_KEY, CHAT_PARAMS, MESSAGES_PARAMS

NAME = "httpx"
APIS = frozenset({"chat", "messages"})


def versions() -> dict[str, str]:
    return {"httpx": version("httpx"), "httpx-sse": version("httpx-sse")}


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self.sink: Any = None

    async def start(self) -> None:
        limits = httpx.Limits(
            max_connections=self._pool, max_keepalive_connections=self._pool, keepalive_expiry=60
        )
        self._client = httpx.AsyncClient(base_url=self._root, limits=limits, timeout=600)
        self._chat_headers = {"Authorization": f"Bearer {API_KEY}"}
        self._msg_headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def chat(self) -> int:
        resp = await self._client.post(
            "/v1/chat/completions", json=CHAT_PARAMS, headers=self._chat_headers
        )
        self.sink = resp.json()["choices"][0]["message"]["content"]
        return 1

    async def messages(self) -> int:
        resp = await self._client.post(
            "/v1/messages", json=MESSAGES_PARAMS, headers=self._msg_headers
        )
        self.sink = resp.json()["content"][0]["text"]
        return 1

    async def chat_stream(self) -> int:
        n = 0
        params = {**CHAT_PARAMS, "stream": True}
        async with aconnect_sse(
            self._client, "POST", "/v1/chat/completions", json=params, headers=self._chat_headers
        ) as source:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                if chunk["choices"]:
                    self.sink = chunk["choices"][0]["delta"].get("content")
                n += 1
        return n

    async def messages_stream(self) -> int:
        n = 0
        params = {**MESSAGES_PARAMS, "stream": True}
        async with aconnect_sse(
            self._client, "POST", "/v1/messages", json=params, headers=self._msg_headers
        ) as source:
            async for sse in source.aiter_sse():
                event = json.loads(sse.data)
                n += 1
                if event["type"] == "content_block_delta":
                    self.sink = event["delta"].get("text")
                elif event["type"] == "message_stop":
                    break
        return n
