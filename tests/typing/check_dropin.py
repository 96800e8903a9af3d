"""Static checks of the drop-in surface (run by mypy in .ci/run, not by pytest)."""

from __future__ import annotations

from typing import Any, assert_type

import msgspec

import rawllm
from rawllm.types.anthropic import ModelInfo, ModelInfoPage
from rawllm.types.openai import Model, ModelList
from rawllm.types.parsed import ParsedChatCompletion, ParsedResponse

MSGS = [{"role": "user", "content": "hi"}]


class City(msgspec.Struct):
    name: str


async def openai_calls(client: rawllm.AsyncOpenAI) -> None:
    resp = await client.chat.completions.parse(model="m", messages=MSGS, response_format=City)
    assert_type(resp, ParsedChatCompletion[City])
    assert_type(resp.choices[0].message.parsed, City | None)
    untyped = await client.chat.completions.parse(model="m", messages=MSGS)
    assert_type(untyped, ParsedChatCompletion[Any])
    parsed = await client.responses.parse(model="m", input="hi", text_format=City)
    assert_type(parsed, ParsedResponse[City])
    assert_type(parsed.output_parsed, City | None)
    assert_type(await client.models.list(), ModelList)
    async for model in client.models.list():
        assert_type(model, Model)
    assert_type(await client.models.retrieve("m"), Model)
    tool = rawllm.function_tool(City)
    assert_type(tool.name, str)
    assert_type(tool["type"], Any)  # a dict: sent as it is


async def anthropic_calls(client: rawllm.AsyncAnthropic) -> None:
    assert_type(await client.models.list(), ModelInfoPage)
    async for info in client.models.list(limit=5):
        assert_type(info, ModelInfo)
    assert_type(await client.models.retrieve("claude"), ModelInfo)
    async with client.messages.stream(model="m", max_tokens=5, messages=MSGS) as s:
        assert_type(await s.get_final_text(), str)
