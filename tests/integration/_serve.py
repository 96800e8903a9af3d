"""A one-route aiohttp server on 127.0.0.1, for an answer MockServer does not give.

Each test hands in its own handler; the server is started on a free port and
cleaned up when the block ends, whatever the test raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def one_route(
    handler: Handler, *, method: str = "POST", path: str = "/v1/chat/completions"
) -> AsyncIterator[str]:
    """Serve ``handler`` at ``method path``; yields the OpenAI base URL (``.../v1``)."""
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()
