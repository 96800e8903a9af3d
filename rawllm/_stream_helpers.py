"""``.stream()`` helpers: the official SDKs' streaming idioms on top of ``AsyncStream``.

``client.chat.completions.stream(...)``, ``client.messages.stream(...)`` and
``client.responses.stream(...)`` return a manager used with ``async with``
(no ``await``), as in the official SDKs.  Inside, the object is a thin view
of the ``AsyncStream``:

- iterating it iterates the ``AsyncStream`` itself (``__aiter__`` hands
  out the stream's own), so the per-event cost is exactly that of ``create(stream=True)``;
  items are the typed chunks / events (the official SDKs' chat and
  responses helpers wrap them in their own event classes: rawllm does not);
- ``text_stream`` / ``text_deltas()`` yield only text, the ``get_final_*``
  methods read the rest and return the accumulated result (parsed into the
  ``response_format`` / ``text_format`` type when one was given),
  ``current_message_snapshot`` / ``current_completion_snapshot`` fold what
  has been read so far (incrementally: each event is folded once).

Leaving the ``async with`` releases the connection at once, as for any stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._streaming import AsyncStream
from ._structured import parse_chat_completion, parse_response

__all__ = [
    "ChatCompletionStream",
    "MessageStream",
    "ResponseStream",
    "StreamManager",
]

S = TypeVar("S", bound="_StreamView")
T = TypeVar("T")


class _StreamView:
    """What the three helpers share: iteration, text, closing, the final result."""

    __slots__ = ("_acc", "_fed", "_stream")

    def __init__(self, stream: AsyncStream[Any]) -> None:
        self._stream = stream
        self._acc: Any = None
        self._fed = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._stream.__aiter__()

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.close()

    @property
    def stream(self) -> AsyncStream[Any]:
        """The underlying ``AsyncStream``."""
        return self._stream

    @property
    def request_id(self) -> str | None:
        """The provider's request id."""
        return self._stream.request_id

    @property
    def headers(self) -> Any:
        """The response headers."""
        return self._stream.headers

    async def close(self) -> None:
        """Release the connection now (the rest of the body is not read)."""
        await self._stream.close()

    async def until_done(self) -> None:
        """Read the stream to its end."""
        await self._stream.until_done()

    def text_deltas(self) -> AsyncIterator[str]:
        """Yield only the text deltas."""
        return self._stream.text_deltas()

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas (the Anthropic SDK's name)."""
        return self._stream.text_deltas()

    def _snapshot(self, make: Callable[[], Any], build: Callable[[Any], Any]) -> Any:
        """Fold the items read so far (each item once) and build the current state."""
        acc = self._acc
        if acc is None:
            acc = self._acc = make()
        stream = self._stream
        items = stream._reader.items  # every item decoded so far ...
        read = len(items) - stream._unread()  # ... less those not handed out
        for item in items[self._fed : read]:
            acc.add(item)
        self._fed = read
        return build(acc)


class ChatCompletionStream(_StreamView, Generic[T]):
    """``chat.completions.stream(...)`` inside ``async with``.

    Example:
        >>> async with client.chat.completions.stream(model=..., messages=...) as s:
        ...     async for text in s.text_deltas():
        ...         print(text, end="")
        ...     completion = await s.get_final_completion()
    """

    __slots__ = ("_format", "_tools")

    def __init__(self, stream: AsyncStream[Any], response_format: Any, tools: Any) -> None:
        super().__init__(stream)
        self._format = response_format
        self._tools = tools

    async def get_final_completion(self) -> Any:
        """Read the rest; the ``ParsedChatCompletion`` (``.parsed`` set when a type was given).

        Raises:
            LengthFinishReasonError: the answer was cut by the token limit.
        """
        return parse_chat_completion(await self._stream.get_final(), self._format, self._tools)

    @property
    def current_completion_snapshot(self) -> Any:
        """The ``ChatCompletion`` the chunks read so far add up to."""
        from ._accumulate import ChatCompletionAccumulator

        return self._snapshot(ChatCompletionAccumulator, lambda acc: acc.result())


class MessageStream(_StreamView):
    """``messages.stream(...)`` inside ``async with`` (the Anthropic SDK's ``MessageStream``).

    Example:
        >>> async with client.messages.stream(model=..., max_tokens=256, messages=...) as s:
        ...     async for text in s.text_stream:
        ...         print(text, end="")
        ...     message = await s.get_final_message()
    """

    __slots__ = ()

    async def get_final_message(self) -> Any:
        """Read the rest; the accumulated ``Message``."""
        return await self._stream.get_final()

    async def get_final_text(self) -> str:
        """Read the rest; the text blocks of the final message, joined.

        Raises:
            APIResponseValidationError: the message has no text block.
        """
        from ._exceptions import APIResponseValidationError

        message = await self.get_final_message()
        texts = [b.text for b in message.content if getattr(b, "type", None) == "text"]
        if not texts:
            raise APIResponseValidationError("The final message has no text block.")
        return "".join(texts)

    @property
    def current_message_snapshot(self) -> Any:
        """The ``Message`` the events read so far add up to (None before ``message_start``)."""
        from ._accumulate_events import MessageAccumulator

        return self._snapshot(MessageAccumulator, lambda acc: acc._build(strict=False))


class ResponseStream(_StreamView, Generic[T]):
    """``responses.stream(...)`` inside ``async with``.

    Example:
        >>> async with client.responses.stream(model=..., input="Hi") as s:
        ...     async for event in s:
        ...         ...
        ...     response = await s.get_final_response()
    """

    __slots__ = ("_format", "_tools")

    def __init__(self, stream: AsyncStream[Any], text_format: Any, tools: Any = None) -> None:
        super().__init__(stream)
        self._format = text_format
        self._tools = tools

    async def get_final_response(self) -> Any:
        """Read the rest; the ``ParsedResponse`` (``output_parsed`` set when a type was given,
        ``parsed_arguments`` on calls of ``function_tool`` tools)."""
        return parse_response(await self._stream.get_final(), self._format, self._tools)


class StreamManager(Generic[S]):
    """What ``.stream(...)`` returns: use it with ``async with`` (the stream opens on entry)."""

    __slots__ = ("_open", "_view")

    def __init__(self, open_: Callable[[], Awaitable[S]]) -> None:
        self._open = open_
        self._view: S | None = None

    async def __aenter__(self) -> S:
        self._view = await self._open()
        return self._view

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._view is not None:
            await self._view.close()
