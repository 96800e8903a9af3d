"""AsyncStream: body bytes -> SSEDecoder -> wire decoder -> typed items, safely.

Invariants:
- a stream that ends before its terminator (``[DONE]``, ``message_stop``,
  ``response.completed``) raises ``APIConnectionError``: a truncated answer
  is never returned as complete;
- leaving ``async with``, ``close()``, an error, cancellation or garbage
  collection drops the connection at once (no reading the rest of the body)
  and gives back the rate-limit slot; a stream read to its terminator hands
  its connection back to the pool;
- ``first_event`` / ``event_idle`` are measured on data events only
  (comments, keep-alives and pings do not reset them) and raise
  ``APITimeoutError``; they cost nothing per event when not set.

The per-event path is: one ``SSEDecoder.feed`` per network chunk, one wire
decode per event, one list append.  Items are kept (cheap) so that
``final()`` can fold them into the complete result after iteration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
)
from ._transport import (
    ClientResponse,
    Headers,
    Transport,
    at_eof,
    body_too_large,
    close_response,
)
from .sse import ServerSentEvent, SSEDecoder
from .types._base import Result, attach

__all__ = ["AsyncStream", "StreamSpec"]

T = TypeVar("T")


_NEVER: Any = object()


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """How one API's stream is read.

    Attributes:
        decode: one SSE event -> an item, ``None`` to skip it, or ``done``; raises
            the right ``APIStatusError`` for an in-stream error.
        decode_data: optional faster form taking only ``event.data`` (used when
            the API ignores the ``event:`` field).
        terminal_types: the item types that end the stream, for APIs whose last item is itself the
            terminator (Anthropic ``message_stop``); None when only ``DONE`` ends it.
        accumulate: the items of a complete stream -> the final result.
        text_of: ``item -> str | None``, the text delta an item carries.
        terminator: name of the terminator, for error messages.
        done: the sentinel ``decode`` returns for a terminator that carries no
            item (OpenAI's ``data: [DONE]``).
    """

    decode: Callable[[ServerSentEvent], Any]
    accumulate: Callable[[list[Any]], Any]
    text_of: Callable[[Any], str | None]
    terminator: str
    decode_data: Callable[[str], Any] | None = None
    terminal_types: frozenset[type] = frozenset()
    done: Any = _NEVER


def _too_deep() -> APIError:
    # msgspec raises RecursionError on absurdly nested JSON: a hostile payload, not a bug.
    return APIResponseValidationError("A stream event's JSON is nested too deeply to decode.")


class AsyncStream(Generic[T]):
    """An async iterator (and async context manager) over typed stream items.

    Example:
        >>> async with await client.chat.completions.create(..., stream=True) as stream:
        ...     async for chunk in stream:
        ...         print(chunk.choices[0].delta.content or "", end="")
        >>> completion = stream.final()
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_decoder",
        "_done",
        "_error",
        "_event_idle",
        "_final",
        "_first_event",
        "_headers",
        "_items",
        "_budget",
        "_max_bytes",
        "_last_data",
        "_pending",
        "_permit",
        "_pos",
        "_request_id",
        "_resp",
        "_retries",
        "_spec",
        "_started",
        "_timed",
    )

    def __init__(
        self,
        resp: ClientResponse,
        first_chunk: bytes,
        spec: StreamSpec,
        *,
        permit: Any = None,
        request_id: str | None = None,
        first_event: float | None = None,
        event_idle: float | None = None,
        started: float = 0.0,
        retries: int = 0,
        max_event_bytes: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self._resp: ClientResponse | None = resp
        self._headers: Headers = resp.headers
        self._spec = spec
        self._decoder = SSEDecoder(max_event_bytes=max_event_bytes)
        # Bytes the rest of the body may still bring (max_response_bytes), counted as they arrive.
        self._max_bytes = max_bytes
        self._budget: int | None = None if max_bytes is None else max_bytes - len(first_chunk)
        self._items: list[Any] = []
        self._pos = 0
        self._done = False
        self._closed = False
        self._final: Any = None
        self._permit = permit
        self._request_id = request_id
        self._first_event = first_event
        self._event_idle = event_idle
        self._timed = first_event is not None or event_idle is not None
        self._started = started
        self._last_data: float | None = None
        self._retries = retries
        # Decoded on the first read, not here: an error event in it must surface
        # while iterating (after the events before it), as for any later chunk.
        self._pending = first_chunk
        self._error: APIError | None = None

    # -- public surface ------------------------------------------------------

    @property
    def request_id(self) -> str | None:
        """The provider's request id for this stream."""
        return self._request_id

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._headers

    @property
    def retries(self) -> int:
        """How many retries it took to open the stream."""
        return self._retries

    @property
    def completed(self) -> bool:
        """True once the terminator was read: the stream is whole."""
        return self._done

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        pos = self._pos
        items = self._items
        if pos < len(items):
            self._pos = pos + 1
            item: T = items[pos]
            return item
        return await self._next_slow()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection now; the rest of the body is not read."""
        if self._done and not self._closed:
            self._finish()
        else:
            self._abort()

    def final(self) -> Any:
        """The accumulated result (``ChatCompletion``, ``Message`` or ``Response``).

        Raises:
            APIConnectionError: the stream was not read to its terminator.
        """
        if not self._done:
            raise APIConnectionError(
                f"Stream not complete: read it to the end (or await get_final()) "
                f"before final(); no {self._spec.terminator} was seen yet."
            )
        if self._final is None:
            final = self._spec.accumulate(self._items)
            if isinstance(final, Result):
                attach(final, None, self._request_id)
                if self._retries:
                    final.__dict__["_retries"] = self._retries
            self._final = final
        return self._final

    async def get_final(self) -> Any:
        """Read the rest of the stream and return ``final()``."""
        async for _ in self:
            pass
        return self.final()

    # Names the official SDK helpers use, for one-line migrations.
    get_final_completion = get_final
    get_final_message = get_final
    get_final_response = get_final

    async def until_done(self) -> None:
        """Read the rest of the stream."""
        async for _ in self:
            pass

    async def text_deltas(self) -> AsyncIterator[str]:
        """Yield only the text deltas (content), skipping everything else."""
        text_of = self._spec.text_of
        async for item in self:
            text = text_of(item)
            if text:
                yield text

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Alias of ``text_deltas()`` (the Anthropic SDK's name)."""
        return self.text_deltas()

    def __repr__(self) -> str:
        state = "done" if self._done else ("closed" if self._closed else "open")
        return f"<AsyncStream {state} items={len(self._items)} request_id={self._request_id!r}>"

    def __del__(self) -> None:
        # An abandoned stream must not hold its connection or its rate-limit slot.
        if not self._closed:
            self._abort()

    # -- internals -----------------------------------------------------------

    def _ingest(self, chunk: bytes) -> None:
        events = self._decoder.feed(chunk)
        if not events:
            return
        spec = self._spec
        items = self._items
        before = len(items)
        done = spec.done
        terminal = spec.terminal_types
        decode_data = spec.decode_data
        try:
            # Two copies of the loop so the per-event path has no branch on the spec.
            if decode_data is not None:
                for event in events:
                    item = decode_data(event.data)
                    if item is None:
                        continue
                    if item is done:
                        self._done = True
                        break
                    items.append(item)
                    if terminal and type(item) in terminal:
                        self._done = True
                        break
            else:
                decode = spec.decode
                for event in events:
                    item = decode(event)
                    if item is None:
                        continue
                    if item is done:
                        self._done = True
                        break
                    items.append(item)
                    if terminal and type(item) in terminal:
                        self._done = True
                        break
        except (APIError, RecursionError) as exc:
            error = exc if isinstance(exc, APIError) else _too_deep()
            if len(items) == before:
                if error is exc:
                    raise
                raise error from None
            # Hand out the events that came before the error first, then raise it.
            self._error = error
            self._abort()
        if self._timed and len(items) != before:
            self._last_data = time.monotonic()

    async def _next_slow(self) -> T:
        try:
            while True:
                pos = self._pos
                if pos < len(self._items):
                    self._pos = pos + 1
                    item: T = self._items[pos]
                    return item
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                if self._done:
                    if not self._closed:
                        await self._drain_and_finish()
                    raise StopAsyncIteration
                if self._closed:
                    raise APIConnectionError("Stream closed before it was read to the end.")
                resp = self._resp
                assert resp is not None
                chunk = self._pending
                if chunk:
                    self._pending = b""
                elif self._timed:
                    chunk = await self._read_timed(resp)
                else:
                    chunk = await Transport.read_chunk(resp)
                if not chunk:
                    self._on_eof()
                    continue
                budget = self._budget
                if budget is not None:
                    budget = self._budget = budget - len(chunk)
                    if budget < 0:
                        raise body_too_large(self._max_bytes or 0, "stream")
                self._ingest(chunk)
        except StopAsyncIteration:
            raise
        except BaseException:
            self._abort()
            raise

    async def _read_timed(self, resp: ClientResponse) -> bytes:
        last = self._last_data
        if last is None:
            limit, name = self._first_event, "first_event"
            since = self._started
        else:
            limit, name = self._event_idle, "event_idle"
            since = last
        if limit is None:
            return await Transport.read_chunk(resp)
        remaining = since + limit - time.monotonic()
        if remaining <= 0:
            raise APITimeoutError(
                f"Stream timed out: no data event within {limit} s.", timeout=name
            )
        try:
            async with asyncio.timeout(remaining):
                return await Transport.read_chunk(resp)
        except TimeoutError as exc:
            if isinstance(exc, APITimeoutError):
                raise
            raise APITimeoutError(
                f"Stream timed out: no data event within {limit} s ({name}).", timeout=name
            ) from None

    def _on_eof(self) -> None:
        for event in self._decoder.close():
            self._ingest_event(event)
        if not self._done:
            raise APIConnectionError(
                f"Stream ended before {self._spec.terminator}: the answer is incomplete."
            )

    def _ingest_event(self, event: ServerSentEvent) -> None:
        spec = self._spec
        item = spec.decode_data(event.data) if spec.decode_data is not None else spec.decode(event)
        if item is None or self._done:
            return
        if item is spec.done:
            self._done = True
            return
        self._items.append(item)
        if type(item) in spec.terminal_types:
            self._done = True

    async def _drain_and_finish(self) -> None:
        """After the terminator: read the (normally empty) rest so the connection is reusable."""
        resp = self._resp
        if resp is not None and not at_eof(resp):
            try:
                async with asyncio.timeout(0.05):
                    while not at_eof(resp):
                        if not await resp.content.readany():
                            break
            except (TimeoutError, Exception):
                self._abort()
                return
        self._finish()

    def _finish(self) -> None:
        """The body was read: hand the connection back to the pool."""
        self._closed = True
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.release()
        self._give_back_slot()

    def _abort(self) -> None:
        """Drop the connection now (mid-body: it cannot be reused)."""
        self._closed = True
        resp, self._resp = self._resp, None
        if resp is not None:
            close_response(resp)
        self._give_back_slot()

    def _give_back_slot(self) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()
