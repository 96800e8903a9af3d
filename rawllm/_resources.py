"""The call namespaces: chat.completions, embeddings, models, responses, messages.

Each ``create()`` takes the official SDK's keyword arguments: named ones are
sent as given, unknown ones go into the JSON body, ``None`` and ``NOT_GIVEN``
are not sent, and ``extra_headers`` / ``extra_query`` / ``extra_body`` /
``timeout`` apply to that call only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from ._config import NOT_GIVEN, NotGiven, Timeout
from ._streaming import AsyncStream, StreamSpec
from ._wire import anthropic as _anthropic
from ._wire import openai as _openai
from ._wire import responses as _responses
from .types.anthropic import Message, MessageStreamEvent, MessageTokensCount
from .types.openai import ChatCompletion, ChatCompletionChunk, CreateEmbeddingResponse, ModelList
from .types.responses import Response, ResponseStreamEvent

if TYPE_CHECKING:
    from ._client import BaseClient

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "AsyncEmbeddings",
    "AsyncMessages",
    "AsyncModels",
    "AsyncResponses",
]

TimeoutArg = Timeout | float | None | NotGiven


def _chat_text(chunk: ChatCompletionChunk) -> str | None:
    choices = chunk.choices
    if choices:
        delta = choices[0].delta
        if delta is not None:
            return delta.content
    return None


def _accumulate_chat(items: list[Any]) -> ChatCompletion:
    from ._accumulate import ChatCompletionAccumulator

    acc = ChatCompletionAccumulator()
    for item in items:
        acc.add(item)
    return acc.result()


def _accumulate_message(items: list[Any]) -> Message:
    from ._accumulate_events import MessageAccumulator

    acc = MessageAccumulator()
    for item in items:
        acc.add(item)
    return acc.result()


def _accumulate_response(items: list[Any]) -> Response:
    from ._accumulate_events import ResponseAccumulator

    acc = ResponseAccumulator()
    for item in items:
        acc.add(item)
    return acc.result()


CHAT_STREAM = StreamSpec(
    decode=lambda event: _openai.decode_chunk(event.data),
    decode_data=_openai.decode_chunk,
    accumulate=_accumulate_chat,
    text_of=_chat_text,
    terminator="data: [DONE]",
    done=_openai.DONE,
)

MESSAGE_STREAM = StreamSpec(
    decode=_anthropic.decode_event,
    accumulate=_accumulate_message,
    text_of=_anthropic.text_delta,
    terminator="message_stop",
    is_terminal=_anthropic.is_terminal,
)

RESPONSE_STREAM = StreamSpec(
    decode=_responses.decode_event,
    accumulate=_accumulate_response,
    text_of=_responses.text_delta,
    terminator="response.completed",
    is_terminal=_responses.is_terminal,
)


def _body(params: dict[str, Any], extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop unset values; ``extra_body`` is merged last (it wins)."""
    body = {k: v for k, v in params.items() if v is not None and v is not NOT_GIVEN}
    if extra_body:
        body.update(extra_body)
    return body


class _Resource:
    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _tokens(self, body: Mapping[str, Any]) -> int:
        return self._client.limiter.estimate(body)


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
        max_retries = params.pop("max_retries", NOT_GIVEN)
        params["messages"] = messages
        params["model"] = model
        client = self._client
        if stream:
            params["stream"] = True
            body = _body(params, extra_body)
            return await client._stream(
                "POST",
                "/chat/completions",
                _openai.encode(body),
                CHAT_STREAM,
                tokens=self._tokens(body),
                extra_headers=extra_headers,
                extra_query=extra_query,
                timeout=timeout,
                max_retries=max_retries,
            )
        if stream is False:
            params["stream"] = False
        body = _body(params, extra_body)
        return await client._request(
            "POST",
            "/chat/completions",
            _openai.encode(body),
            _openai.decode_chat_completion,
            tokens=self._tokens(body),
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )


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
        max_retries = params.pop("max_retries", NOT_GIVEN)
        params["input"] = input
        params["model"] = model
        body = _body(params, extra_body)
        return await self._client._request(
            "POST",
            "/embeddings",
            _openai.encode(body),
            _openai.decode_embeddings,
            tokens=self._tokens(body),
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )


class AsyncModels(_Resource):
    """``client.models``."""

    __slots__ = ()

    async def list(
        self,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ModelList:
        """List the models the server offers.

        Example:
            >>> [m.id for m in (await client.models.list()).data]
        """
        return await self._client._request(
            "GET",
            "/models",
            None,
            _openai.decode_model_list,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )


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
        max_retries = params.pop("max_retries", NOT_GIVEN)
        client = self._client
        if stream:
            params["stream"] = True
            body = _body(params, extra_body)
            return await client._stream(
                "POST",
                "/responses",
                _responses.encode(body),
                RESPONSE_STREAM,
                tokens=self._tokens(body),
                extra_headers=extra_headers,
                extra_query=extra_query,
                timeout=timeout,
                max_retries=max_retries,
            )
        if stream is False:
            params["stream"] = False
        body = _body(params, extra_body)
        return await client._request(
            "POST",
            "/responses",
            _responses.encode(body),
            _responses.decode_response,
            tokens=self._tokens(body),
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )


class AsyncMessages(_Resource):
    """``client.messages`` (Anthropic)."""

    __slots__ = ()

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
        params["max_tokens"] = max_tokens
        max_retries = params.pop("max_retries", NOT_GIVEN)
        params["messages"] = messages
        params["model"] = model
        client = self._client
        if stream:
            params["stream"] = True
            body = _body(params, extra_body)
            return await client._stream(
                "POST",
                "/v1/messages",
                _anthropic.encode(body),
                MESSAGE_STREAM,
                tokens=self._tokens(body),
                extra_headers=extra_headers,
                extra_query=extra_query,
                timeout=timeout,
                max_retries=max_retries,
            )
        if stream is False:
            params["stream"] = False
        body = _body(params, extra_body)
        return await client._request(
            "POST",
            "/v1/messages",
            _anthropic.encode(body),
            _anthropic.decode_message,
            tokens=self._tokens(body),
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )

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
        max_retries = params.pop("max_retries", NOT_GIVEN)
        params["messages"] = messages
        params["model"] = model
        body = _body(params, extra_body)
        return await self._client._request(
            "POST",
            "/v1/messages/count_tokens",
            _anthropic.encode(body),
            _anthropic.decode_count_tokens,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            max_retries=max_retries,
        )
