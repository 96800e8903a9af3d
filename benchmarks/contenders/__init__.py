"""One module per benchmark contender; each runs in its own fresh process.

A contender module defines ``NAME``, ``APIS`` (a subset of ``{"chat", "messages"}``),
``versions() -> dict[str, str]`` and ``Client(root_url, pool)`` with the async
methods ``start()``, ``chat()``, ``chat_stream()``, ``messages()``,
``messages_stream()`` (each returns the number of items it consumed: 1 for a
body, the number of stream events for a stream) and ``aclose()``.  A module
with ``PACED = True`` also takes ``pace=`` (requests per second) and runs
only where the server's advertised limit binds.

Every contender sends the same request (``CHAT_PARAMS`` / ``MESSAGES_PARAMS``),
reads the same fields of the answer, and uses a pool of ``pool`` connections
that are all kept alive, as httpcore's benchmark does, so that no contender
pays for reconnecting where another does not.
"""

from __future__ import annotations

from typing import Any

API_KEY = "sk-bench-not-a-secret"

CHAT_PARAMS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 200,
}

MESSAGES_PARAMS: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Say hello in five words."}],
}

CONTENDERS = (
    "floor",
    "floor_paced",
    "rawllm",
    "openai",
    "openai_aiohttp",
    "anthropic",
    "httpx",
    "litellm",
)

# module name for each contender (``rawllm`` would read as the library itself)
MODULES = {
    "floor": "floor",
    "floor_paced": "floor_paced",
    "rawllm": "rawllm_client",
    "openai": "openai_httpx",
    "openai_aiohttp": "openai_aiohttp",
    "anthropic": "anthropic_sdk",
    "httpx": "httpx_raw",
    "litellm": "litellm_client",
}
