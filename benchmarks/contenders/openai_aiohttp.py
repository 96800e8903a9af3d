"""The official ``openai`` SDK with its aiohttp transport (``openai[aiohttp]``)."""

from __future__ import annotations

from typing import Any

import openai

from benchmarks.contenders import API_KEY, openai_httpx
from benchmarks.contenders.openai_httpx import limits, versions

NAME = "openai_aiohttp"
APIS = frozenset({"chat"})
__all__ = ["APIS", "NAME", "Client", "versions"]

if not hasattr(openai, "DefaultAioHttpClient"):
    raise ImportError(f"openai {openai.__version__} has no DefaultAioHttpClient")


def _check() -> None:
    # The SDK raises only when the class is instantiated without the extra.
    try:
        from openai._vendor import httpx_aiohttp  # noqa: F401
    except ImportError:
        try:
            import httpx_aiohttp  # type: ignore[import-not-found,no-redef]  # noqa: F401
        except ImportError as exc:
            raise ImportError("openai[aiohttp] extra not installed") from exc


_check()


class Client(openai_httpx.Client):
    async def start(self) -> None:
        http: Any = openai.DefaultAioHttpClient(limits=limits(self._pool))
        self._client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=self._root + "/v1",
            http_client=http,
            timeout=600.0,
        )
