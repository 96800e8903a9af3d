"""rawllm.integrations.langchain.ChatRawllm against MockServer, both wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import rawllm
from rawllm.testing import MockServer, reply_text

pytest.importorskip("langchain_core")

from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from rawllm.integrations.langchain import ChatRawllm  # noqa: E402

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    degrees: int


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(strict_models=True, api_key="lc-key") as srv:
        yield srv


def make_llm(server: MockServer, wire: str, **kwargs: Any) -> ChatRawllm:
    if wire == "anthropic":
        client: Any = rawllm.Anthropic(api_key="lc-key", base_url=server.anthropic_base_url)
    else:
        client = rawllm.OpenAI(api_key="lc-key", base_url=server.openai_base_url)
    return ChatRawllm(client=client, model=MODELS[wire], **kwargs)


@pytest.fixture(params=["openai", "anthropic"])
async def llm(request: pytest.FixtureRequest, server: MockServer) -> AsyncIterator[ChatRawllm]:
    model = make_llm(server, request.param)
    async with model.client:
        yield model


def wire_of(llm: ChatRawllm) -> str:
    return "anthropic" if isinstance(llm.client, rawllm.Anthropic) else "openai"


async def test_ainvoke_sends_the_wire_format_and_reads_usage(
    llm: ChatRawllm, server: MockServer
) -> None:
    msg = await llm.ainvoke([SystemMessage("be terse"), HumanMessage("tell me about tides")])
    assert isinstance(msg, AIMessage)
    assert "tides" in msg.content
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] > 0
    assert msg.usage_metadata["total_tokens"] == (
        msg.usage_metadata["input_tokens"] + msg.usage_metadata["output_tokens"]
    )
    sent = server.requests[-1]
    if wire_of(llm) == "anthropic":
        assert sent.path == "/v1/messages"
        assert sent.json["system"] == "be terse"
        assert sent.json["max_tokens"] == 1024
        assert sent.json["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "tell me about tides"}]}
        ]
    else:
        assert sent.path == "/v1/chat/completions"
        assert sent.json["messages"][0] == {"role": "system", "content": "be terse"}
    body = {"messages": [{"role": "user", "content": "tell me about tides"}]}
    assert msg.content == reply_text(body, "messages" if wire_of(llm) == "anthropic" else "chat")


async def test_astream_yields_token_chunks_and_usage_on_the_last(llm: ChatRawllm) -> None:
    chunks = [c async for c in llm.astream("count the waves")]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 3  # one chunk per token, not one blob
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata["output_tokens"] > 0
    whole = await llm.ainvoke("count the waves")
    assert "".join(str(t) for t in texts) == whole.content


async def test_abatch_goes_through_the_clients_limiter(server: MockServer) -> None:
    model = make_llm(server, "openai")
    model.client = rawllm.OpenAI(
        api_key="lc-key",
        base_url=server.openai_base_url,
        rate_limit=rawllm.RateLimit(max_concurrency=3),
    )
    async with model.client:
        server.reset_stats()
        outs = await model.abatch([f"question {i}" for i in range(12)])
    assert [f"question {i}" in str(o.content) for i in range(12) for o in [outs[i]]] == [True] * 12
    assert server.peak_in_flight <= 3
    assert len(server.requests) == 12


async def test_abatch_return_exceptions_keeps_one_result_per_input(server: MockServer) -> None:
    good = make_llm(server, "openai")
    async with good.client:
        bad = ChatRawllm(client=good.client, model="gpt-nope")
        outs = await bad.abatch(["a", "b"], return_exceptions=True)
        assert all(isinstance(o, rawllm.NotFoundError) for o in outs)
        with pytest.raises(rawllm.NotFoundError):
            await bad.ainvoke("a")


async def test_bind_tools_and_a_tool_round_trip(llm: ChatRawllm, server: MockServer) -> None:
    bound = llm.bind_tools([Weather], tool_choice="Weather")
    msg = await bound.ainvoke("weather in Lisbon?")
    assert len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call["name"] == "Weather" and set(call["args"]) == {"city", "degrees"}
    sent = server.requests[-1].json
    if wire_of(llm) == "anthropic":
        assert sent["tools"][0]["input_schema"]["properties"]["degrees"]["type"] == "integer"
        assert sent["tool_choice"] == {"type": "tool", "name": "Weather"}
    else:
        assert sent["tools"][0]["function"]["name"] == "Weather"
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    # the answer to the tool goes back in the provider's shape
    history = [
        HumanMessage("weather in Lisbon?"),
        msg,
        ToolMessage("21 C", tool_call_id=call["id"]),
    ]
    final = await llm.ainvoke(history)
    assert isinstance(final.content, str)
    turns = server.requests[-1].json["messages"]
    if wire_of(llm) == "anthropic":
        assert turns[1]["content"][-1]["type"] == "tool_use"
        assert turns[2]["content"] == [
            {"type": "tool_result", "tool_use_id": call["id"], "content": "21 C"}
        ]
    else:
        assert turns[1]["tool_calls"][0]["id"] == call["id"]
        assert turns[2] == {"role": "tool", "content": "21 C", "tool_call_id": call["id"]}


async def test_streamed_tool_calls_aggregate(llm: ChatRawllm) -> None:
    bound = llm.bind_tools([Weather], tool_choice="any")
    total: Any = None
    async for chunk in bound.astream("weather in Oslo?"):
        total = chunk if total is None else total + chunk
    assert total is not None and total.tool_calls[0]["name"] == "Weather"
    assert set(total.tool_calls[0]["args"]) == {"city", "degrees"}


async def test_with_structured_output(llm: ChatRawllm) -> None:
    structured = llm.with_structured_output(Weather)
    out = await structured.ainvoke("weather in Rome?")
    assert isinstance(out, Weather) and isinstance(out.degrees, int)
    raw = await llm.with_structured_output(Weather, include_raw=True).ainvoke("weather in Rome?")
    assert isinstance(raw["raw"], AIMessage) and isinstance(raw["parsed"], Weather)
    with pytest.raises(ValueError, match="function_calling"):
        llm.with_structured_output(Weather, method="json_mode")  # type: ignore[arg-type]


async def test_an_lcel_chain(llm: ChatRawllm) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a {role}."), ("human", "Explain {topic} in one line.")]
    )
    chain = prompt | llm | StrOutputParser()
    text = await chain.ainvoke({"role": "teacher", "topic": "entropy"})
    assert isinstance(text, str) and "entropy" in text
    many = await chain.abatch([{"role": "poet", "topic": t} for t in ("tides", "stars")])
    assert "tides" in many[0] and "stars" in many[1]


def test_sync_calls_say_to_use_the_async_ones(server: MockServer) -> None:
    llm = make_llm(server, "openai")
    with pytest.raises(NotImplementedError, match="ainvoke"):
        llm.invoke("hi")


def test_a_client_of_another_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="rawllm.OpenAI or rawllm.Anthropic"):
        ChatRawllm(client=object(), model="m")


def test_import_rawllm_does_not_import_langchain() -> None:
    import subprocess
    import sys

    code = "import sys, rawllm; print('langchain_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
