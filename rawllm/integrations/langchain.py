"""LangChain chat model backed by a rawllm client (extra ``[langchain]``: langchain-core only).

``ChatRawllm(client=rawllm.OpenAI(...), model=...)`` is a langchain-core
``BaseChatModel``: ``ainvoke``, ``astream`` (text chunks, usage on the last
chunk), ``abatch``, ``bind_tools`` and ``with_structured_output`` all go through
the rawllm client, so its pool, retries, timeouts and rate limits apply to
every call a chain makes.  Both wire formats: an ``rawllm.OpenAI`` client
speaks Chat Completions, an ``rawllm.Anthropic`` client the Messages API.

The model is asynchronous only (rawllm has no blocking API): ``invoke``,
``stream`` and ``batch`` raise ``NotImplementedError`` naming the ``a``-method.
``abatch`` is langchain-core's own: every input is an ``ainvoke`` on the event
loop (no thread pool), bounded by ``config={"max_concurrency": N}`` and, across
all of them, by the client's ``RateLimit``.

This is the only module of rawllm that imports langchain-core.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolCallChunk,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, field_validator

from .._providers import Anthropic, OpenAI

__all__ = ["ChatRawllm"]

_ANTHROPIC_DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens


class ChatRawllm(BaseChatModel):
    """A LangChain chat model that sends every call through a rawllm client.

    Built with keyword arguments, one per attribute.

    Attributes:
        client: a ``rawllm.OpenAI`` (or ``AsyncOpenAI``, any OpenAI-compatible
            server) or ``rawllm.Anthropic`` client; it is not closed by this model.
        model: the model id sent with every call.
        temperature: sampling temperature (not sent when ``None``).
        max_tokens: answer cap; for Anthropic ``None`` sends 1024 (the API needs one).
        stop: stop sequences sent with every call.
        model_kwargs: other request parameters sent with every call, by their wire names.

    Example:
        >>> llm = ChatRawllm(client=rawllm.OpenAI(), model="gpt-4o-mini")
        >>> msg = await llm.ainvoke("Say hi")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    client: Any = Field(exclude=True)
    model: str = Field(alias="model_name")
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("client")
    @classmethod
    def _check_client(cls, client: Any) -> Any:
        if not isinstance(client, OpenAI | Anthropic):
            raise TypeError(
                f"ChatRawllm needs a rawllm.OpenAI or rawllm.Anthropic client, got "
                f"{type(client).__name__}"
            )
        return client

    # -- identity -------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "rawllm-anthropic" if self._anthropic else "rawllm-openai"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature, "wire": self._llm_type}

    @property
    def _anthropic(self) -> bool:
        return isinstance(self.client, Anthropic)

    # -- the synchronous API does not exist ---------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError(
            "ChatRawllm is asynchronous (rawllm has no blocking API): use ainvoke, "
            "astream or abatch"
        )

    # -- calls --------------------------------------------------------------------

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._params(messages, stop, kwargs)
        if self._anthropic:
            msg = await self.client.messages.create(**params)
            return ChatResult(generations=[ChatGeneration(message=_from_anthropic(msg))])
        resp = await self.client.chat.completions.create(**params)
        choice = resp.choices[0]
        message = _from_openai(resp, choice)
        info = {"finish_reason": choice.finish_reason}
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        params = self._params(messages, stop, kwargs)
        params["stream"] = True
        if self._anthropic:
            stream = await self.client.messages.create(**params)
            chunks = _anthropic_chunks(stream)
        else:
            params.setdefault("stream_options", {"include_usage": True})
            stream = await self.client.chat.completions.create(**params)
            chunks = _openai_chunks(stream)
        async with stream:
            async for chunk in chunks:
                if run_manager is not None:
                    text = chunk.message.content
                    await run_manager.on_llm_new_token(
                        text if isinstance(text, str) else "", chunk=chunk
                    )
                yield chunk

    def _params(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        if self._anthropic:
            system, wire = _to_anthropic(messages)
            params["messages"] = wire
            if system:
                params["system"] = system
            params["max_tokens"] = self.max_tokens or _ANTHROPIC_DEFAULT_MAX_TOKENS
        else:
            params["messages"] = [_to_openai(m) for m in messages]
            if self.max_tokens is not None:
                params["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            params["temperature"] = self.temperature
        stops = stop if stop is not None else self.stop
        if stops:
            params["stop_sequences" if self._anthropic else "stop"] = list(stops)
        params.update(self.model_kwargs)
        # LangChain's own bookkeeping (ls_structured_output_format, ...) is not a request field
        params.update({k: v for k, v in kwargs.items() if not k.startswith("ls_")})
        return params

    # -- tools and structured output ----------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` (pydantic models, functions, LangChain tools or schemas) to the model.

        Args:
            tools: the tools, in any form ``convert_to_openai_tool`` accepts.
            tool_choice: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True`` (some
                tool), or a tool's name; sent in the client's wire format.
            **kwargs: other request parameters bound with the tools.

        Returns:
            This model with the tools bound to every call.
        """
        specs = [convert_to_openai_tool(t)["function"] for t in tools]
        if self._anthropic:
            kwargs["tools"] = [
                {
                    "name": s["name"],
                    "description": s.get("description", ""),
                    "input_schema": s.get("parameters", {"type": "object", "properties": {}}),
                }
                for s in specs
            ]
        else:
            kwargs["tools"] = [{"type": "function", "function": s} for s in specs]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = _tool_choice(tool_choice, self._anthropic)
        return self.bind(**kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["function_calling"] = "function_calling",
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Answers parsed into ``schema`` (a pydantic model, TypedDict or JSON schema).

        The model is made to call one tool whose parameters are ``schema``, on
        both wire formats, and the tool call's arguments are parsed.

        Args:
            schema: the shape of the answer.
            include_raw: return ``{"raw", "parsed", "parsing_error"}`` instead.
            method: only ``"function_calling"``.
            **kwargs: passed on to langchain-core.

        Returns:
            A runnable whose output is a ``schema`` instance (or a dict for a JSON schema).
        """
        if method != "function_calling":
            raise ValueError(f"ChatRawllm supports method='function_calling', not {method!r}")
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)


# -- messages out ----------------------------------------------------------------------


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, ChatMessage):
        return message.role
    raise ValueError(f"ChatRawllm cannot send a {type(message).__name__}")


def _to_openai(message: BaseMessage) -> dict[str, Any]:
    role = _role(message)
    out: dict[str, Any] = {"role": role, "content": message.content}
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
            }
            for call in message.tool_calls
        ]
        out["content"] = message.content or None
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    return out


def _to_anthropic(messages: list[BaseMessage]) -> tuple[str, list[dict[str, Any]]]:
    """The system text and the alternating user/assistant turns (tool results as user turns)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = _role(message)
        if role == "system":
            system.append(_text(message.content))
            continue
        blocks = _blocks(message.content)
        if isinstance(message, AIMessage):
            blocks += [
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["args"]}
                for c in message.tool_calls
            ]
        if isinstance(message, ToolMessage):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": _text(message.content),
            }
            if message.status == "error":
                result["is_error"] = True
            blocks, role = [result], "user"
        wire_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == wire_role:  # the API wants turns to alternate
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": wire_role, "content": blocks})
    return "\n\n".join(system), turns


def _blocks(content: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [{"type": "text", "text": c} if isinstance(c, str) else c for c in content]


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts = [c if isinstance(c, str) else c.get("text", "") for c in content]
    return "".join(p for p in parts if isinstance(p, str))


def _tool_choice(choice: str | bool | dict[str, Any], anthropic: bool) -> Any:
    if isinstance(choice, dict):
        return choice
    if choice is True or choice in ("any", "required"):
        return {"type": "any"} if anthropic else "required"
    if choice in ("auto", "none"):
        return {"type": choice} if anthropic else choice
    assert isinstance(choice, str)
    if anthropic:
        return {"type": "tool", "name": choice}
    return {"type": "function", "function": {"name": choice}}


# -- answers in ------------------------------------------------------------------------


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def _from_openai(resp: Any, choice: Any) -> AIMessage:
    message = choice.message
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for call in message.tool_calls or ():
        name, text = call.function.name, call.function.arguments
        try:
            args = json.loads(text) if text else {}
        except ValueError as exc:
            invalid.append(
                InvalidToolCall(
                    name=name, args=text, id=call.id, error=str(exc), type="invalid_tool_call"
                )
            )
            continue
        calls.append(ToolCall(name=name, args=args, id=call.id, type="tool_call"))
    usage = resp.usage
    return AIMessage(
        content=message.content or "",
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=None
        if usage is None
        else _usage(usage.prompt_tokens, usage.completion_tokens),
        response_metadata={
            "model_name": resp.model,
            "finish_reason": choice.finish_reason,
            "request_id": resp._request_id,
            "model_provider": "openai",
        },
        id=resp.id,
    )


def _from_anthropic(msg: Any) -> AIMessage:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in msg.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(name=block.name, args=block.input, id=block.id, type="tool_call"))
    return AIMessage(
        content="".join(texts),
        tool_calls=calls,
        usage_metadata=_usage(msg.usage.input_tokens, msg.usage.output_tokens),
        response_metadata={
            "model_name": msg.model,
            "stop_reason": msg.stop_reason,
            "request_id": msg._request_id,
            "model_provider": "anthropic",
        },
        id=msg.id,
    )


async def _openai_chunks(stream: Any) -> AsyncIterator[ChatGenerationChunk]:
    """Text and tool-call pieces as they arrive; usage on the last chunk (include_usage)."""
    async for chunk in stream:
        if chunk.choices:
            choice = chunk.choices[0]
            delta = choice.delta
            pieces = [
                ToolCallChunk(
                    name=tc.function.name if tc.function else None,
                    args=tc.function.arguments if tc.function else None,
                    id=tc.id,
                    index=tc.index,
                    type="tool_call_chunk",
                )
                for tc in delta.tool_calls or ()
            ]
            meta = {"finish_reason": choice.finish_reason} if choice.finish_reason else {}
            if delta.content or pieces or meta:
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=delta.content or "",
                        tool_call_chunks=pieces,
                        response_metadata=meta,
                        id=chunk.id,
                    )
                )
        if chunk.usage is not None:
            usage = _usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=usage,
                    response_metadata={"model_name": chunk.model, "model_provider": "openai"},
                    id=chunk.id,
                    chunk_position="last",
                )
            )


async def _anthropic_chunks(stream: Any) -> AsyncIterator[ChatGenerationChunk]:
    """Text and tool-input pieces as they arrive; usage and stop reason on the last chunk."""
    input_tokens = 0
    msg_id: str | None = None
    model = None
    async for event in stream:
        kind = event.type
        if kind == "message_start":
            msg_id, model = event.message.id, event.message.model
            input_tokens = event.message.usage.input_tokens or 0
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
            piece = ToolCallChunk(
                name=block.name, args="", id=block.id, index=event.index, type="tool_call_chunk"
            )
            yield ChatGenerationChunk(
                message=AIMessageChunk(content="", tool_call_chunks=[piece], id=msg_id)
            )
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield ChatGenerationChunk(message=AIMessageChunk(content=delta.text, id=msg_id))
            elif delta.type == "input_json_delta":
                piece = ToolCallChunk(
                    name=None,
                    args=delta.partial_json,
                    id=None,
                    index=event.index,
                    type="tool_call_chunk",
                )
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content="", tool_call_chunks=[piece], id=msg_id)
                )
        elif kind == "message_delta":
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=_usage(input_tokens, event.usage.output_tokens or 0),
                    response_metadata={
                        "stop_reason": event.delta.stop_reason,
                        "model_name": model,
                        "model_provider": "anthropic",
                    },
                    id=msg_id,
                    chunk_position="last",
                )
            )
