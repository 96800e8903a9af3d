"""The call namespaces: chat.completions, embeddings, models, responses, messages.

Each ``create()`` takes the official SDK's keyword arguments (``_params``):
they are sent as given, ``None`` and ``NOT_GIVEN`` are not sent, an unknown one
raises ``TypeError`` before anything is sent (provider extras go in
``extra_body``), and ``extra_headers`` / ``extra_query`` / ``extra_body`` /
``timeout`` apply to that call only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from . import _formats
from ._config import NOT_GIVEN, NotGiven, Timeout
from ._formats import WireFormat
from ._params import accepted, unknown_kwargs
from ._raw_response import RawResponses
from ._streaming import AsyncStream
from ._tools import tools_for_anthropic, tools_for_responses
from ._wire._common import encode
from ._wire.openai import build_params as _body

if TYPE_CHECKING:
    from ._client import BaseClient
    from ._resources_batch import AsyncMessageBatches
    from .types.anthropic import Message, MessageStreamEvent, MessageTokensCount
    from .types.openai import (
        ChatCompletion,
        ChatCompletionChunk,
        CreateEmbeddingResponse,
    )
    from .types.responses import Response, ResponseStreamEvent

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "AsyncEmbeddings",
    "AsyncMessages",
    "AsyncResponses",
]

TimeoutArg = Timeout | float | None | NotGiven
_Options = tuple[
    Mapping[str, str] | None, Mapping[str, Any] | None, Mapping[str, Any] | None, TimeoutArg
]
"""A call's ``extra_headers``, ``extra_query``, ``extra_body`` and ``timeout``."""

# What each method's **params may hold (checked before anything is sent).
_CHAT_CREATE = accepted("chat.completions.create")
_EMBEDDINGS_CREATE = accepted("embeddings.create")
_RESPONSES_CREATE = accepted("responses.create")
_MESSAGES_CREATE = accepted("messages.create")
_COUNT_TOKENS = accepted("messages.count_tokens")


class _Resource(RawResponses):
    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _post(
        self,
        fmt: WireFormat[Any, Any],
        params: dict[str, Any],
        options: _Options,
        stream: bool | None | NotGiven = None,
    ) -> Awaitable[Any]:
        """Build the body and start the call (a plain method: no extra coroutine frame)."""
        max_retries = params.pop("max_retries", NOT_GIVEN)
        streams = False
        if stream is not NOT_GIVEN and stream is not None:
            streams = params["stream"] = bool(stream)
        extra_headers, extra_query, extra_body, timeout = options
        body = _body(params, extra_body)
        return self._client._request(
            fmt,
            encode(body),
            stream=streams and fmt.accumulator is not None,
            estimate=body,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )


class AsyncCompletions(_Resource):
    """``client.chat.completions``."""

    __slots__ = ()

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: bool | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion (``stream=True`` for an ``AsyncStream`` of chunks).

        Args:
            messages: the conversation, as the OpenAI API takes it.
            model: the model name.
            stream: stream the answer as ``ChatCompletionChunk`` items.
            extra_headers: headers for this call only.
            extra_query: query parameters for this call only.
            extra_body: JSON fields merged into the body last.
            timeout: a ``rawllm.Timeout`` or total seconds, for this call only.
            **params: every other Chat Completions parameter (``temperature``,
                ``tools``, ``response_format``, ...), sent as given.

        Returns:
            A ``ChatCompletion``, or an ``AsyncStream[ChatCompletionChunk]``.

        Raises:
            APIStatusError: the server answered with an error status.
            APIConnectionError: the network failed (``APITimeoutError`` for timeouts).

        Example:
            >>> resp = await client.chat.completions.create(
            ...     model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
            >>> resp.choices[0].message.content
        """
        if not _CHAT_CREATE.issuperset(params):
            raise unknown_kwargs("chat.completions.create", params, _CHAT_CREATE)
        params["messages"] = messages
        params["model"] = model
        result: ChatCompletion | AsyncStream[ChatCompletionChunk] = await self._post(
            _formats.CHAT, params, (extra_headers, extra_query, extra_body, timeout), stream
        )
        return result


class AsyncChat(_Resource):
    """``client.chat``."""

    __slots__ = ("completions",)

    def __init__(self, client: BaseClient) -> None:
        super().__init__(client)
        self.completions = AsyncCompletions(client)


class AsyncEmbeddings(_Resource):
    """``client.embeddings``."""

    __slots__ = ()

    async def create(
        self,
        *,
        input: str | list[str] | list[int] | list[list[int]],
        model: str,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> CreateEmbeddingResponse:
        """Create embeddings for ``input``.

        Example:
            >>> resp = await client.embeddings.create(model="text-embedding-3-small", input="hi")
            >>> len(resp.data[0].embedding)
        """
        if not _EMBEDDINGS_CREATE.issuperset(params):
            raise unknown_kwargs("embeddings.create", params, _EMBEDDINGS_CREATE)
        params["input"] = input
        params["model"] = model
        result: CreateEmbeddingResponse = await self._post(
            _formats.EMBEDDINGS, params, (extra_headers, extra_query, extra_body, timeout)
        )
        return result


class AsyncResponses(_Resource):
    """``client.responses`` (the OpenAI Responses API)."""

    __slots__ = ()

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Response: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> AsyncStream[ResponseStreamEvent]: ...

    @overload
    async def create(
        self,
        *,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Response | AsyncStream[ResponseStreamEvent]: ...

    async def create(
        self,
        *,
        stream: bool | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Response | AsyncStream[ResponseStreamEvent]:
        """Create a model response (``stream=True`` for typed stream events).

        Example:
            >>> resp = await client.responses.create(model="gpt-4.1", input="Hi")
            >>> resp.output_text
        """
        if not _RESPONSES_CREATE.issuperset(params):
            raise unknown_kwargs("responses.create", params, _RESPONSES_CREATE)
        if "tools" in params:  # rawllm.function_tool entries, in the Responses form
            params["tools"] = tools_for_responses(params["tools"])
        result: Response | AsyncStream[ResponseStreamEvent] = await self._post(
            _formats.responses(), params, (extra_headers, extra_query, extra_body, timeout), stream
        )
        return result


class AsyncMessages(_Resource):
    """``client.messages`` (Anthropic)."""

    __slots__ = ()

    @property
    def batches(self) -> AsyncMessageBatches:
        """``client.messages.batches``: Anthropic Message Batches (imported on first use)."""
        from ._resources_batch import AsyncMessageBatches

        return AsyncMessageBatches(self._client)

    @overload
    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Message: ...

    @overload
    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> AsyncStream[MessageStreamEvent]: ...

    @overload
    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Message | AsyncStream[MessageStreamEvent]: ...

    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: bool | None | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Message | AsyncStream[MessageStreamEvent]:
        """Create a message (``stream=True`` for typed ``MessageStreamEvent`` items).

        Example:
            >>> msg = await client.messages.create(model="claude-sonnet-4-5", max_tokens=256,
            ...     messages=[{"role": "user", "content": "Hi"}])
            >>> msg.content[0].text
        """
        if not _MESSAGES_CREATE.issuperset(params):
            raise unknown_kwargs("messages.create", params, _MESSAGES_CREATE)
        if "tools" in params:  # rawllm.function_tool entries, in the Anthropic form
            params["tools"] = tools_for_anthropic(params["tools"])
        params["max_tokens"] = max_tokens
        params["messages"] = messages
        params["model"] = model
        result: Message | AsyncStream[MessageStreamEvent] = await self._post(
            _formats.messages(), params, (extra_headers, extra_query, extra_body, timeout), stream
        )
        return result

    async def count_tokens(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> MessageTokensCount:
        """Count the input tokens a ``messages.create`` call would use.

        Example:
            >>> (await client.messages.count_tokens(model=..., messages=...)).input_tokens
        """
        if not _COUNT_TOKENS.issuperset(params):
            raise unknown_kwargs("messages.count_tokens", params, _COUNT_TOKENS)
        params["messages"] = messages
        params["model"] = model
        result: MessageTokensCount = await self._post(
            _formats.count_tokens(), params, (extra_headers, extra_query, extra_body, timeout)
        )
        return result
