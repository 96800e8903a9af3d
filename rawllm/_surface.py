"""The official SDKs' call surface beyond ``create()``: parse, stream helpers, retrieve, lists.

- ``chat.completions.parse`` / ``responses.parse``: structured outputs
  (``_structured``): the type becomes a strict JSON schema in the request,
  the answer is decoded into it in one pass;
- ``chat.completions.stream`` / ``responses.stream`` / ``messages.stream``:
  ``async with`` managers over ``create(stream=True)`` (``_stream_helpers``);
- ``responses.retrieve`` (the models calls are in ``_retrieval``).

Each method takes the official SDK method's keyword arguments (``_params``);
``create()`` itself stays in ``_resources`` and these build on it, so nothing
here is on the path of a plain ``create()`` call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import quote

from . import _formats, _resources
from ._config import NOT_GIVEN, NotGiven
from ._params import accepted, unknown_kwargs
from ._retrieval import get_call
from ._stream_helpers import ChatCompletionStream, MessageStream, ResponseStream, StreamManager
from ._structured import (
    parse_chat_completion,
    parse_response,
    response_format_param,
    text_format_param,
)
from ._tools import tools_for_responses

if TYPE_CHECKING:
    from ._client import BaseClient
    from ._formats import WireFormat
    from .types.parsed import ParsedChatCompletion, ParsedResponse
    from .types.responses import Response

__all__ = ["AsyncChat", "AsyncCompletions", "AsyncMessages", "AsyncResponses"]

T = TypeVar("T")
TimeoutArg = _resources.TimeoutArg

_CHAT_PARSE = accepted("chat.completions.parse")
_CHAT_STREAM = accepted("chat.completions.stream")
_RESPONSES_PARSE = accepted("responses.parse")
_RESPONSES_STREAM = accepted("responses.stream")
_RESPONSES_RETRIEVE = accepted("responses.retrieve")
_MESSAGES_STREAM = accepted("messages.stream")


def _check(method: str, params: Mapping[str, Any], known: frozenset[str]) -> None:
    if not known.issuperset(params):
        raise unknown_kwargs(method, params, known)


def _parsing(fmt: WireFormat[Any, Any], fold: Callable[[Any], Any]) -> WireFormat[Any, Any]:
    """``fmt`` whose body decoder also parses the answer into the caller's type (``parse()``)."""
    plain = fmt.decode
    return dataclasses.replace(fmt, decode=lambda body: fold(plain(body)))


def _format(value: Any) -> tuple[Any, Any]:
    """``(type or None, what to send)`` for a ``response_format`` / ``text_format`` argument."""
    if value is NOT_GIVEN or value is None:
        return None, NOT_GIVEN
    if isinstance(value, Mapping):
        return None, value
    return value, None


# -- chat ----------------------------------------------------------------------------


class AsyncCompletions(_resources.AsyncCompletions):
    """``client.chat.completions``: ``create``, and the SDK's ``parse`` / ``stream``."""

    __slots__ = ()

    @overload
    async def parse(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        response_format: type[T],
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ParsedChatCompletion[T]: ...

    @overload
    async def parse(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        response_format: Mapping[str, Any] | None | NotGiven = NOT_GIVEN,
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ParsedChatCompletion[Any]: ...

    async def parse(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        response_format: Any = NOT_GIVEN,
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ParsedChatCompletion[Any]:
        """A chat completion whose answer is decoded into ``response_format``.

        Args:
            messages: the conversation.
            model: the model name.
            response_format: a msgspec Struct, dataclass, TypedDict or pydantic model
                (sent as a strict JSON schema), or a ``response_format`` dict as the API
                takes it (then nothing is decoded).
            tools: tools; calls to ``rawllm.function_tool`` tools (and other ``strict``
                tools) get ``function.parsed_arguments``.
            extra_headers, extra_query, extra_body, timeout: as for ``create()``.
            **params: every other ``create()`` parameter except ``stream``.

        Returns:
            A ``ParsedChatCompletion``: ``choices[i].message.parsed`` is a ``T``, or None
            when the model refused (``.refusal`` says why).

        Raises:
            LengthFinishReasonError: the answer was cut by the token limit.
            APIResponseValidationError: the answer does not fit ``T``.

        Example:
            >>> class City(msgspec.Struct):
            ...     name: str
            ...     country: str
            >>> resp = await client.chat.completions.parse(
            ...     model="gpt-4o-mini", messages=msgs, response_format=City)
            >>> resp.choices[0].message.parsed
            City(name='Paris', country='France')
        """
        _check("chat.completions.parse", params, _CHAT_PARSE)
        tp, rf = _format(response_format)
        params["messages"] = messages
        params["model"] = model
        params["response_format"] = rf if tp is None else response_format_param(tp)
        params["tools"] = tools

        fmt = _parsing(_formats.CHAT, lambda result: parse_chat_completion(result, tp, tools))
        parsed: ParsedChatCompletion[Any] = await self._post(
            fmt, params, (extra_headers, extra_query, extra_body, timeout)
        )
        return parsed

    def stream(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        response_format: Any = NOT_GIVEN,
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> StreamManager[ChatCompletionStream[Any]]:
        """Stream a chat completion: use with ``async with`` (no ``await``).

        Takes ``parse()``'s arguments; ``stream=True`` is implied.  Inside, iterate the
        typed chunks, or ``text_deltas()``; ``await get_final_completion()`` returns the
        ``ParsedChatCompletion`` (``.parsed`` set when ``response_format`` is a type).

        Example:
            >>> async with client.chat.completions.stream(model=..., messages=msgs) as s:
            ...     async for text in s.text_deltas():
            ...         print(text, end="")
            ...     completion = await s.get_final_completion()
        """
        _check("chat.completions.stream", params, _CHAT_STREAM)
        tp, rf = _format(response_format)

        async def open_stream() -> ChatCompletionStream[Any]:
            stream = await self.create(
                messages=messages,
                model=model,
                stream=True,
                response_format=rf if tp is None else response_format_param(tp),
                tools=tools,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )
            return ChatCompletionStream(stream, tp, tools)

        return StreamManager(open_stream)


class AsyncChat(_resources.AsyncChat):
    """``client.chat``."""

    __slots__ = ()
    completions: AsyncCompletions

    def __init__(self, client: BaseClient) -> None:
        super().__init__(client)
        self.completions = AsyncCompletions(client)


# -- responses -----------------------------------------------------------------------


def _text_param(text: Any, tp: Any) -> Any:
    """``text=`` with ``format`` set for ``text_format=tp`` (other ``text`` fields kept)."""
    if tp is None:
        return text
    base = dict(text) if isinstance(text, Mapping) else {}
    base["format"] = text_format_param(tp)
    return base


class AsyncResponses(_resources.AsyncResponses):
    """``client.responses``: ``create``, ``parse``, ``stream``, ``retrieve``."""

    __slots__ = ()

    async def parse(
        self,
        *,
        text_format: type[T] | NotGiven = NOT_GIVEN,
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> ParsedResponse[T]:
        """A response whose output text is decoded into ``text_format``.

        Returns:
            A ``ParsedResponse``: ``output_parsed`` is a ``T`` (None on a refusal).

        Raises:
            APIResponseValidationError: the answer does not fit ``T``.

        Example:
            >>> resp = await client.responses.parse(model="gpt-4o", input="...",
            ...     text_format=City)
            >>> resp.output_parsed
        """
        _check("responses.parse", params, _RESPONSES_PARSE)
        if params.get("stream"):
            raise TypeError("responses.parse() does not stream: use responses.stream()")
        tp, _ = _format(text_format)
        params["text"] = _text_param(params.get("text"), tp)
        params["tools"] = tools_for_responses(tools)
        fmt = _parsing(_formats.responses(), lambda result: parse_response(result, tp, tools))
        parsed: ParsedResponse[T] = await self._post(
            fmt, params, (extra_headers, extra_query, extra_body, timeout)
        )
        return parsed

    def stream(
        self,
        *,
        text_format: Any = NOT_GIVEN,
        tools: Any = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> StreamManager[ResponseStream[Any]]:
        """Stream a response: use with ``async with`` (no ``await``).

        Inside, iterate the typed events (or ``text_deltas()``);
        ``await get_final_response()`` returns the ``ParsedResponse``.

        Example:
            >>> async with client.responses.stream(model="gpt-4o", input="Hi") as s:
            ...     response = await s.get_final_response()
        """
        _check("responses.stream", params, _RESPONSES_STREAM)
        if params.get("response_id") is not None:
            raise NotImplementedError(
                "responses.stream(response_id=...) (resuming a background response) is not "
                "supported yet; use responses.retrieve(response_id)"
            )
        params.pop("response_id", None)
        tp, _ = _format(text_format)
        params["text"] = _text_param(params.get("text"), tp)

        async def open_stream() -> ResponseStream[Any]:
            stream = await self.create(
                stream=True,
                tools=tools,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )
            return ResponseStream(stream, tp, tools)

        return StreamManager(open_stream)

    async def retrieve(
        self,
        response_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> Response:
        """Fetch a stored response (``GET /responses/{id}``).

        Args:
            response_id: the response's id (``resp_...``).
            **params: ``include`` (a list of fields to add), ``include_obfuscation``,
                ``starting_after`` (query parameters), ``max_retries``.

        Example:
            >>> resp = await client.responses.retrieve("resp_123")
            >>> resp.status
        """
        _check("responses.retrieve", params, _RESPONSES_RETRIEVE)
        if params.pop("stream", None):
            raise NotImplementedError("responses.retrieve(stream=True) is not supported yet")
        max_retries = params.pop("max_retries", NOT_GIVEN)
        query: dict[str, Any] = {}
        include = params.pop("include", None)
        if include:
            query["include[]"] = list(include)
        for key, value in params.items():
            if value is not None and value is not NOT_GIVEN:
                query[key] = str(value).lower() if isinstance(value, bool) else value
        if extra_query:
            query.update(extra_query)
        decode = _formats.responses().decode
        path = "/responses/" + quote(response_id, safe="")
        result: Response = await get_call(
            self._client, path, decode, extra_headers, query, timeout, max_retries
        )
        return result


# -- messages ------------------------------------------------------------------------


class AsyncMessages(_resources.AsyncMessages):
    """``client.messages``: ``create``, ``count_tokens``, and ``stream`` (the Anthropic SDK's)."""

    __slots__ = ()

    def stream(
        self,
        *,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **params: Any,
    ) -> StreamManager[MessageStream]:
        """Stream a message: use with ``async with`` (no ``await``), as in the Anthropic SDK.

        Inside: ``text_stream``, ``await get_final_message()``, ``await get_final_text()``,
        ``await until_done()``, ``current_message_snapshot``; iterating gives the typed
        ``MessageStreamEvent`` items.

        Example:
            >>> async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=256,
            ...         messages=[{"role": "user", "content": "Hi"}]) as s:
            ...     async for text in s.text_stream:
            ...         print(text, end="")
            ...     message = await s.get_final_message()
        """
        _check("messages.stream", params, _MESSAGES_STREAM)
        if params.get("output_format") is not None:
            raise NotImplementedError(
                "messages.stream(output_format=...) is not supported; for structured "
                "output use a forced tool call with rawllm.function_tool (docs/migration.md)"
            )
        params.pop("output_format", None)

        async def open_stream() -> MessageStream:
            stream = await self.create(
                max_tokens=max_tokens,
                messages=messages,
                model=model,
                stream=True,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )
            return MessageStream(stream)

        return StreamManager(open_stream)
