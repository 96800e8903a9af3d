"""``litellm.acompletion`` (runs in its own virtual environment: litellm pins openai<3).

Anthropic messages go through ``acompletion`` too, with an ``anthropic/`` model:
that is how litellm users call Claude.  The pool cannot be set through
``acompletion``; litellm uses its own shared aiohttp/httpx client.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import litellm  # type: ignore[import-not-found]  # noqa: E402

from benchmarks.contenders import API_KEY, CHAT_PARAMS, MESSAGES_PARAMS  # noqa: E402

NAME = "litellm"
APIS = frozenset({"chat", "messages"})

litellm.suppress_debug_info = True
litellm.telemetry = False


def versions() -> dict[str, str]:
    out = {"litellm": version("litellm")}
    for dep in ("openai", "httpx", "aiohttp", "pydantic"):
        try:
            out[dep] = version(dep)
        except Exception:
            pass
    return out


class Client:
    def __init__(self, root_url: str, pool: int) -> None:
        self._root = root_url
        self._pool = pool
        self.sink: Any = None
        self._chat = {**CHAT_PARAMS, "model": "openai/" + CHAT_PARAMS["model"]}
        self._msgs = {**MESSAGES_PARAMS, "model": "anthropic/" + MESSAGES_PARAMS["model"]}

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def chat(self) -> int:
        resp = await litellm.acompletion(
            **self._chat, api_base=self._root + "/v1", api_key=API_KEY, max_retries=0
        )
        self.sink = resp.choices[0].message.content
        return 1

    async def messages(self) -> int:
        resp = await litellm.acompletion(**self._msgs, api_base=self._root, api_key=API_KEY)
        self.sink = resp.choices[0].message.content
        return 1

    async def chat_stream(self) -> int:
        n = 0
        stream = await litellm.acompletion(
            **self._chat, api_base=self._root + "/v1", api_key=API_KEY, stream=True
        )
        async for chunk in stream:
            if chunk.choices:
                self.sink = chunk.choices[0].delta.content
            n += 1
        return n

    async def messages_stream(self) -> int:
        n = 0
        stream = await litellm.acompletion(
            **self._msgs, api_base=self._root, api_key=API_KEY, stream=True
        )
        async for chunk in stream:
            if chunk.choices:
                self.sink = chunk.choices[0].delta.content
            n += 1
        return n
