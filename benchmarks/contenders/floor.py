"""The floor: hand-written aiohttp + msgspec, what a careful user writes by hand.

One default ``aiohttp.ClientSession`` (its defaults kept: cookie jar,
``trust_env=False``, the 5-minute total timeout; only the pool size is set,
the same for every contender), bodies encoded with one msgspec encoder, the
status checked, answers decoded with msgspec into small Structs holding only
the fields read, and a minimal SSE splitter (blank-line blocks, ``data: ``
lines; not WHATWG-exact).  No retries, no rate limits, no error mapping.
Nothing here is tuned beyond what the aiohttp and msgspec docs show.

``floor_paced`` (``benchmarks.contenders.floor_paced``) is the same client
with an ``aiolimiter.AsyncLimiter(1, 1 / rate)`` in front of every request:
what the careful user adds when their account's limit binds.
"""

from __future__ import annotations

import time
from importlib.metadata import version
from typing import Any

import aiohttp
import msgspec

from benchmarks.contenders import API_KEY, CHAT_PARAMS, MESSAGES_PARAMS

NAME = "floor"
APIS = frozenset({"chat", "messages"})


def versions() -> dict[str, str]:
    return {"aiohttp": version("aiohttp"), "msgspec": version("msgspec")}


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Usage(msgspec.Struct):
    total_tokens: int = 0


class _Completion(msgspec.Struct):
    choices: list[_Choice]
    usage: _Usage | None = None


class _Delta(msgspec.Struct):
    content: str | None = None


class _ChunkChoice(msgspec.Struct):
    delta: _Delta


class _Chunk(msgspec.Struct):
    choices: list[_ChunkChoice]


class _Block(msgspec.Struct):
    type: str
    text: str | None = None


class _MUsage(msgspec.Struct):
    output_tokens: int = 0


class _Msg(msgspec.Struct):
    content: list[_Block]
    usage: _MUsage


class _TextDelta(msgspec.Struct):
    text: str | None = None


class _Event(msgspec.Struct):
    type: str
    delta: _TextDelta | None = None


_encode = msgspec.json.Encoder().encode
_completion = msgspec.json.Decoder(_Completion).decode
_chunk = msgspec.json.Decoder(_Chunk).decode
_message = msgspec.json.Decoder(_Msg).decode
_event = msgspec.json.Decoder(_Event).decode


def _data_lines(block: bytes) -> list[bytes]:
    return [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None
        self.sink: Any = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._pool))
        self._chat_url = self._root + "/v1/chat/completions"
        self._msg_url = self._root + "/v1/messages"
        self._chat_headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
        }
        self._msg_headers = {
            "x-api-key": API_KEY,
            "anthropic-version": "2023-06-01",
            "Content-Type": "application/json",
        }

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, url: str, headers: dict[str, str], params: dict[str, Any]) -> bytes:
        assert self._session is not None
        await self.wait()
        async with self._session.post(url, data=_encode(params), headers=headers) as resp:
            resp.raise_for_status()
            return await resp.read()

    async def wait(self) -> None:
        """Before each request: nothing here (``floor_paced`` waits for its limiter)."""

    async def chat(self) -> int:
        body = _completion(await self._post(self._chat_url, self._chat_headers, CHAT_PARAMS))
        self.sink = body.choices[0].message.content
        return 1

    async def messages(self) -> int:
        body = _message(await self._post(self._msg_url, self._msg_headers, MESSAGES_PARAMS))
        self.sink = body.content[0].text
        return 1

    async def chat_stream(self) -> int:
        assert self._session is not None
        params = {**CHAT_PARAMS, "stream": True}
        n = 0
        buf = b""
        await self.wait()
        async with self._session.post(
            self._chat_url, data=_encode(params), headers=self._chat_headers
        ) as resp:
            resp.raise_for_status()
            async for data in resp.content.iter_any():
                blocks = (buf + data).split(b"\n\n")
                buf = blocks.pop()
                for block in blocks:
                    for payload in _data_lines(block):
                        if payload == b"[DONE]":
                            return n
                        chunk = _chunk(payload)
                        if chunk.choices:
                            self.sink = chunk.choices[0].delta.content
                        n += 1
        return n

    async def messages_stream(self) -> int:
        assert self._session is not None
        params = {**MESSAGES_PARAMS, "stream": True}
        n = 0
        buf = b""
        await self.wait()
        async with self._session.post(
            self._msg_url, data=_encode(params), headers=self._msg_headers
        ) as resp:
            resp.raise_for_status()
            async for data in resp.content.iter_any():
                blocks = (buf + data).split(b"\n\n")
                buf = blocks.pop()
                for block in blocks:
                    for payload in _data_lines(block):
                        event = _event(payload)
                        n += 1
                        if event.type == "content_block_delta" and event.delta is not None:
                            self.sink = event.delta.text
                        elif event.type == "message_stop":
                            return n
        return n

    async def chat_stream_ttfe(self) -> tuple[int, float]:
        """``chat_stream`` that also returns when its first event was decoded (perf_counter)."""
        assert self._session is not None
        params = {**CHAT_PARAMS, "stream": True}
        n = 0
        first = 0.0
        buf = b""
        await self.wait()
        async with self._session.post(
            self._chat_url, data=_encode(params), headers=self._chat_headers
        ) as resp:
            resp.raise_for_status()
            async for data in resp.content.iter_any():
                blocks = (buf + data).split(b"\n\n")
                buf = blocks.pop()
                for block in blocks:
                    for payload in _data_lines(block):
                        if payload == b"[DONE]":
                            return n, first
                        chunk = _chunk(payload)
                        if chunk.choices:
                            self.sink = chunk.choices[0].delta.content
                        if not n:
                            first = time.perf_counter()
                        n += 1
        return n, first
