"""Static checks of the stream=True/False overloads (run by mypy in .ci/run, not by pytest).

Each ``assert_type`` fails type-checking if an overload returns the wrong type.
"""

from __future__ import annotations

from typing import assert_type

import rawllm
from rawllm.types.anthropic import Message, MessageStreamEvent
from rawllm.types.openai import ChatCompletion, ChatCompletionChunk
from rawllm.types.responses import Response, ResponseStreamEvent

MSGS = [{"role": "user", "content": "hi"}]


async def openai_calls(client: rawllm.OpenAI, flag: bool) -> None:
    assert_type(await client.chat.completions.create(model="m", messages=MSGS), ChatCompletion)
    assert_type(
        await client.chat.completions.create(model="m", messages=MSGS, stream=False),
        ChatCompletion,
    )
    assert_type(
        await client.chat.completions.create(model="m", messages=MSGS, stream=True),
        rawllm.AsyncStream[ChatCompletionChunk],
    )
    assert_type(
        await client.chat.completions.create(model="m", messages=MSGS, stream=flag),
        ChatCompletion | rawllm.AsyncStream[ChatCompletionChunk],
    )
    assert_type(await client.responses.create(model="m", input="hi"), Response)
    assert_type(
        await client.responses.create(model="m", input="hi", stream=True),
        rawllm.AsyncStream[ResponseStreamEvent],
    )


async def anthropic_calls(client: rawllm.Anthropic) -> None:
    assert_type(await client.messages.create(model="m", max_tokens=9, messages=MSGS), Message)
    assert_type(
        await client.messages.create(model="m", max_tokens=9, messages=MSGS, stream=True),
        rawllm.AsyncStream[MessageStreamEvent],
    )


def copies(client: rawllm.OpenAI) -> None:
    assert_type(client.with_options(max_retries=0), rawllm.OpenAI)


async def finals(
    chat: rawllm.AsyncStream[ChatCompletionChunk],
    messages: rawllm.AsyncStream[MessageStreamEvent],
    responses: rawllm.AsyncStream[ResponseStreamEvent],
) -> None:
    assert_type(chat.final(), ChatCompletion)
    assert_type(await chat.get_final_completion(), ChatCompletion)
    assert_type(messages.final(), Message)
    assert_type(await messages.get_final_message(), Message)
    assert_type(responses.final(), Response)
    assert_type(await responses.get_final_response(), Response)
