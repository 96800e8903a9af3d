"""A raw asyncio socket server on 127.0.0.1 that answers every request with given bytes.

For hostile-server tests: the bytes need not be HTTP at all.  Each connection
reads one request (headers and a Content-Length body), writes ``reply`` (bytes,
or an async callable given the writer for endless or paced replies), then closes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Reply = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    def __init__(self, reply: Reply, tls: bool = False) -> None:
        self.reply = reply
        self.tls = tls
        self.connections = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if isinstance(self.reply, bytes):
                writer.write(self.reply)
                await writer.drain()
            else:
                await self.reply(writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass


@asynccontextmanager
async def raw_server(
    reply: Reply, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    srv = RawServer(reply, tls=tls is not None)
    server = await asyncio.start_server(srv._handle, "127.0.0.1", 0, ssl=tls)
    srv.port = server.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        server.close()
        await server.wait_closed()
