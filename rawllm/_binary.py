"""Streamed response bodies: ``BinaryStream`` (bytes as they arrive) and ``JSONLStream``
(typed JSONL items), opened by ``open_binary()``, which retries like a stream does:
until the first body byte, never after.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from yarl import URL

from ._batch_api import LineSplitter
from ._config import NOT_GIVEN, NotGiven, Timeout
from ._exceptions import (
    request_id_from,
)
from ._formats import WireFormat
from ._transport import Response
from ._wire._common import invalid

if TYPE_CHECKING:
    from ._client import BaseClient

__all__ = ["BinaryStream", "JSONLStream", "open_binary"]

TimeoutArg = Timeout | float | None | NotGiven
T = TypeVar("T")


# -- streamed bodies -------------------------------------------------------------------


class BinaryStream:
    """A response body read as it arrives: ``async for chunk in stream``.

    Also ``await stream.read()`` (the whole body), ``stream.iter_lines()``
    (complete lines, newline kept) and ``stream.write_to_file(path)``.  Use
    ``async with`` (or ``aclose()``) when you may stop early: the connection
    is released at once.

    Example:
        >>> async with await client.files.content("file-abc") as body:
        ...     async for chunk in body:
        ...         sink.write(chunk)
    """

    __slots__ = ("_eof", "_first", "_resp", "request_id", "status_code")

    def __init__(self, resp: Response, first: bytes, request_id: str | None) -> None:
        self._resp = resp
        self._first = first
        self._eof = not first
        self.request_id = request_id
        self.status_code: int = resp.status

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._first:
                first, self._first = self._first, b""
                yield first
            while not self._eof:
                chunk = await self._resp.read_chunk()
                if not chunk:
                    self._eof = True
                    return
                yield chunk
        finally:
            self.close()

    async def iter_lines(self) -> AsyncIterator[bytes]:
        """Complete lines, each with its ``b"\\n"`` (one is added to an unterminated last line)."""
        splitter = LineSplitter()
        async for chunk in self:
            for line in splitter.feed(chunk):
                yield line
        for line in splitter.close():
            yield line

    async def read(self) -> bytes:
        """The whole (rest of the) body."""
        return b"".join([chunk async for chunk in self])

    async def write_to_file(self, path: str | os.PathLike[str]) -> int:
        """Write the body to ``path`` as it arrives; returns the bytes written."""
        n = 0
        with open(path, "wb") as f:
            async for chunk in self:
                f.write(chunk)
                n += len(chunk)
        return n

    def close(self) -> None:
        """Release the connection (drops it when the body was not read to the end)."""
        if self._eof:
            self._resp.release()
        else:
            self._resp.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> BinaryStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


# The format of a download: only its method and name are used (for retry logs).
_DOWNLOAD: WireFormat[Any, Any] = WireFormat(name="download", path="", decode=bytes, method="GET")


async def open_binary(
    client: BaseClient,
    url: URL,
    *,
    extra_headers: Mapping[str, str] | None = None,
    timeout: TimeoutArg = NOT_GIVEN,
) -> BinaryStream:
    """GET ``url`` and return its body as a ``BinaryStream``.

    The client's attempt rules apply (rate limiter, retries and their waits,
    the ``total`` deadline) until the first body byte has arrived, as for a
    stream; the permit is not held while the body is read.
    """

    def opened(resp: Response, first: bytes) -> BinaryStream:
        return BinaryStream(resp, first, request_id_from(resp.headers))

    stream: BinaryStream = await client._request(
        _DOWNLOAD, None, extra_headers=extra_headers, timeout=timeout, url=url, opener=opened
    )
    return stream


class JSONLStream(Generic[T]):
    """Typed items of a JSONL body, read as it arrives (``async for item in ...``).

    It can be iterated directly, or awaited first (as the official SDK's
    ``await client.messages.batches.results(id)``); ``raw_lines()`` gives the
    lines as sent.
    """

    __slots__ = ("_decode", "_open", "_stream")

    def __init__(
        self, open_: Callable[[], Awaitable[BinaryStream]], decode: Callable[[bytes], T]
    ) -> None:
        self._open = open_
        self._decode = decode
        self._stream: BinaryStream | None = None

    async def _ensure(self) -> BinaryStream:
        if self._stream is None:
            self._stream = await self._open()
        return self._stream

    def __await__(self) -> Generator[Any, None, JSONLStream[T]]:
        async def opened() -> JSONLStream[T]:
            await self._ensure()
            return self

        return opened().__await__()

    async def raw_lines(self) -> AsyncIterator[bytes]:
        """The lines as sent, each with its newline; blank lines skipped."""
        stream = await self._ensure()
        async for line in stream.iter_lines():
            if line.strip():
                yield line

    async def __aiter__(self) -> AsyncIterator[T]:
        async for line in self.raw_lines():
            try:
                yield self._decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise invalid("a JSONL line", line, exc) from exc

    async def aclose(self) -> None:
        if self._stream is not None:
            self._stream.close()

    async def __aenter__(self) -> JSONLStream[T]:
        await self._ensure()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
