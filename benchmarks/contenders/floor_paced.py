"""The floor with the pacing a careful user adds: ``aiolimiter.AsyncLimiter(1, 1 / rate)``.

Used when the server's advertised limit binds (header mode ``binding``):
``rate`` is the advertised requests per minute / 60, as the user would read
it off their account page.  Every request (streams included) waits for the
limiter before it is sent; nothing else differs from ``floor``.
"""

from __future__ import annotations

from importlib.metadata import version

from aiolimiter import AsyncLimiter

from benchmarks.contenders import floor

NAME = "floor_paced"
APIS = floor.APIS
PACED = True  # the child passes the spec's "pace" (requests per second)


def versions() -> dict[str, str]:
    return {**floor.versions(), "aiolimiter": version("aiolimiter")}


class Client(floor.Client):
    def __init__(self, root_url: str, pool: int, pace: float = 500.0) -> None:
        super().__init__(root_url, pool)
        self._limiter = AsyncLimiter(1, 1.0 / pace)

    async def wait(self) -> None:
        await self._limiter.acquire()
