"""Count the connections a client has checked out of its aiohttp pool.

This reads aiohttp internals (``TCPConnector._acquired``, the set of
connections handed to requests and not yet released or closed).  There is
no public API for it; if an aiohttp upgrade renames the attribute, these
helpers fail loudly (AttributeError) rather than report a false zero.
"""

from __future__ import annotations

import asyncio
import gc

import aiohttp

import rawllm


def _connector(client: rawllm.OpenAI | rawllm.Anthropic) -> aiohttp.BaseConnector:
    connector = client._shared.transport.session.connector
    assert connector is not None
    return connector


def checked_out(client: rawllm.OpenAI | rawllm.Anthropic) -> int:
    """Connections currently checked out of ``client``'s pool (aiohttp internals)."""
    return len(_connector(client)._acquired)


async def settle(client: rawllm.OpenAI | rawllm.Anthropic, *, collect: bool = False) -> int:
    """Let callbacks run (and optionally the garbage collector), then count checked out.

    Releasing a connection is synchronous in aiohttp, but a cancelled task's
    cleanup runs on the next loop iterations; a few zero-sleeps let it finish.
    """
    for _ in range(5):
        if collect:
            gc.collect()
        await asyncio.sleep(0)
    return checked_out(client)
