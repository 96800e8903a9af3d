"""Test against a local fake provider: ``rawllm.testing.MockServer``.

``MockServer`` speaks the OpenAI (chat completions, embeddings, models,
responses) and Anthropic (messages, count_tokens) wire formats on 127.0.0.1,
answers deterministically (:func:`reply_text` says what it will answer), and
injects faults from a small script language.  See ``docs/testing.md``.

Example:
    >>> import asyncio
    >>> async def main():
    ...     async with MockServer(faults="429,ok") as server:
    ...         print(server.openai_base_url)
"""

from __future__ import annotations

from ._app import MockServer
from ._faults import Step, parse_script
from ._planning import DEFAULT_TOKENS, Reply, ToolCall, embedding_vector, plan_reply, reply_text
from ._recording import RecordedRequest
from ._runner import add_arguments, run_cli, serve

__all__ = [
    "DEFAULT_TOKENS",
    "MockServer",
    "RecordedRequest",
    "Reply",
    "Step",
    "ToolCall",
    "add_arguments",
    "embedding_vector",
    "parse_script",
    "plan_reply",
    "reply_text",
    "run_cli",
    "serve",
]
