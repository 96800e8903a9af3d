"""Sending a reply that is paced or goes wrong: streams at a set speed, cuts, stalls, resets.

The aiohttp-level part of the fault steps (``docs/testing.md``): what the
bytes are is decided before (``_render``, ``_errors``); this module only
writes them, with pauses, or stops writing and drops the connection.
``closing`` is the server's event set by ``MockServer.close()``: a stall
ends early when it is set, and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct

from aiohttp import web

from ._errors import stream_error
from ._faults import Step
from ._render_common import KEEPALIVE

__all__ = ["broken", "reset", "stall", "stream"]


async def stall(closing: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until the server closes; return True if it closed."""
    waiter = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=None if math.isinf(seconds) else seconds)
    finally:
        waiter.cancel()
    return bool(done)


def reset(request: web.BaseRequest, hard: bool = False) -> web.StreamResponse:
    """Drop the connection: ``hard`` sends a TCP RST, else a FIN after the bytes sent so far."""
    transport = request.transport
    if transport is not None:
        if hard:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset".
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            # close() flushes what was written, so the client gets every byte up to the cut.
            transport.close()
    # aiohttp finds the transport gone when it writes this and drops it quietly.
    return web.Response(status=599)


async def broken(
    request: web.BaseRequest,
    kind: str,
    step: Step,
    payload: bytes,
    headers: dict[str, str],
    closing: asyncio.Event,
) -> web.StreamResponse:
    """A non-streaming body that goes wrong after the headers."""
    resp = web.StreamResponse(headers=headers)
    resp.content_length = len(payload)
    await resp.prepare(request)
    if kind == "reset-after-headers":
        await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
        return reset(request)
    if kind == "cut@":
        await resp.write(payload[: step.events])
        await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
        return reset(request)
    if await stall(closing, step.seconds):  # stall@: headers now, body later
        return reset(request)
    await resp.write(payload)
    await resp.write_eof()
    return resp


async def stream(
    request: web.BaseRequest,
    api: str,
    frames: list[bytes],
    step: Step,
    headers: dict[str, str],
    tokens_per_second: float | None,
    keepalive_every: int,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """A stream sent frame by frame: paced, with keep-alive comments, or broken by ``step``."""
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    kind = step.kind
    if kind == "reset-after-headers":
        await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
        return reset(request)
    # N past the end still fails before the terminator (the last frame).
    stop_at = min(step.events, len(frames) - 1) if kind in ("cut@", "error@", "stall@") else -1
    delay = 1.0 / tokens_per_second if tokens_per_second else 0.0
    every = keepalive_every
    for i, frame in enumerate(frames):
        if i == stop_at:
            if kind == "cut@":
                await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
                return reset(request)
            if kind == "error@":
                await resp.write(stream_error(api, step.error_type, i))
                await resp.write_eof()
                return resp
            if await stall(closing, step.seconds):
                return reset(request)
        if every and i and i % every == 0:
            await resp.write(KEEPALIVE)
        if delay and i:
            await asyncio.sleep(delay)
        await resp.write(frame)
    await resp.write_eof()
    return resp
