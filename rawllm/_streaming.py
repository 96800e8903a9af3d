"""AsyncStream: the IO loop around a ``StreamReader``: read, feed, hand out, time, release.

Everything about the bytes (SSE framing, event decoding, the end rule,
in-band errors, truncation, the final fold) is the reader's (``_reader.py``,
any ``Reader``).
This class only reads chunks when the reader needs them, enforces the
``first_event`` / ``event_idle`` timeouts, and owns the connection and the
rate-limit permit.

Invariants:
- leaving ``async with``, ``close()``, an error, cancellation or garbage
  collection drops the connection at once (no reading the rest of the body)
  and gives back the rate-limit slot; a stream read to its end hands its
  connection back to the pool;
- ``first_event`` / ``event_idle`` are measured on data events only
  (comments, keep-alives and pings do not reset them) and raise
  ``APITimeoutError``; they cost nothing per event when not set.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from operator import length_hint
from sys import get_asyncgen_hooks, set_asyncgen_hooks
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._exceptions import APIConnectionError
from ._reader import Reader
from ._transport import AIOHTTP_ERRORS, Headers, Response, map_aiohttp_error, within
from .types._base import Result, attach

if TYPE_CHECKING:
    from .types.anthropic import Message, MessageStreamEvent
    from .types.openai import ChatCompletion, ChatCompletionChunk
    from .types.responses import Response as ResponsesResponse
    from .types.responses import ResponseStreamEvent

__all__ = ["AsyncStream"]

T = TypeVar("T")

_NOTHING: Iterator[Any] = iter(())  # an exhausted iterator stays exhausted: one serves all


async def _no_read() -> bytes:
    """Where a stream's read points once its response is gone (never awaited: ``_resp`` is None)."""
    return b""


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
        "_event_idle",
        "_first_event",
        "_headers",
        "_last_data",
        "_pending",
        "_permit",
        "_readany",
        "_reader",
        "_request_id",
        "_resp",
        "_rest",
        "_retries",
        "_started",
        "_timed",
    )

    def __init__(
        self,
        resp: Response,
        first_chunk: bytes,
        reader: Reader[T, Any],
        *,
        permit: Any = None,
        request_id: str | None = None,
        first_event: float | None = None,
        event_idle: float | None = None,
        started: float = 0.0,
        retries: int = 0,
    ) -> None:
        self._resp: Response | None = resp
        self._readany = resp.chunk_reader()
        self._headers: Headers = resp.headers
        self._reader = reader
        self._rest: Iterator[T] = _NOTHING
        self._closed = False
        self._permit = permit
        self._request_id = request_id
        self._first_event = first_event
        self._event_idle = event_idle
        self._timed = first_event is not None or event_idle is not None
        self._started = started
        self._last_data: float | None = None
        self._retries = retries
        # Fed on the first read, not here: an error event in it must surface
        # while iterating (after the events before it), as for any later chunk.
        self._pending = first_chunk

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
        """True once the end of the stream was read: it is whole."""
        return self._reader.done

    def __aiter__(self) -> AsyncIterator[T]:
        """A generator over the items: ``async for`` resumes it per item, no coroutine each.

        Any number may be taken; the position is the stream's, so a second
        ``async for`` (or ``anext()``) goes on where the last one stopped.
        It is started here with the loop's async-generator hooks set aside:
        it has no cleanup that needs the loop, so one abandoned mid-way is
        closed by CPython at once (and the stream behind it dropped), not by
        a task the loop would schedule.
        """
        items = self._items()
        hooks = get_asyncgen_hooks()
        set_asyncgen_hooks(None, None)
        try:
            items.asend(None).send(None)  # to the priming yield: hooks are taken here
        except StopIteration:
            pass
        finally:
            set_asyncgen_hooks(*hooks)
        return items

    async def __anext__(self) -> T:
        """The next item, for ``anext()`` (``async for`` uses ``__aiter__``'s generator)."""
        for item in self._rest:
            return item
        return await self.__aiter__().__anext__()

    def _unread(self) -> int:
        """How many items are decoded but not handed out yet (the snapshot helpers' count)."""
        return length_hint(self._rest)

    async def _items(self) -> AsyncGenerator[T, None]:
        """Read, feed and hand out until the end (the one read loop of a stream).

        Nothing encloses a ``yield``: closing the generator there runs no code.
        """
        yield cast(T, None)  # the priming stop (``__aiter__``), never handed out
        reader = self._reader
        while True:
            rest = self._rest
            for item in rest:  # the chunk's items not handed out yet, in order
                yield item
            if self._rest is not rest:  # another iterator read on meanwhile: its items first
                continue
            if reader.done:
                break
            try:
                if self._pending or self._timed or self._resp is None:
                    chunk = await self._read()
                else:  # the common case: aiohttp's read, its errors mapped as read_chunk does
                    try:
                        chunk = await self._readany()
                    except AIOHTTP_ERRORS as exc:
                        raise map_aiohttp_error(exc) from exc
                items = reader.feed(chunk) if chunk else reader.eof()
            except BaseException:
                self._abort()
                raise
            if reader.failed:  # an in-band error: it comes after these items
                self._abort()
            if items:
                self._rest = iter(items)
                if self._timed:
                    self._last_data = time.monotonic()
        try:
            await self._finish()
        except BaseException:
            self._abort()
            raise

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
        resp = self._resp
        if self._reader.done and resp is not None:
            self._take_resp()
            self._closed = True
            resp.release()
            self._give_back_slot()
        else:
            self._abort()

    @overload
    def final(self: AsyncStream[ChatCompletionChunk]) -> ChatCompletion: ...
    @overload
    def final(self: AsyncStream[MessageStreamEvent]) -> Message: ...
    @overload
    def final(self: AsyncStream[ResponseStreamEvent]) -> ResponsesResponse: ...
    @overload
    def final(self) -> Any: ...

    def final(self) -> Any:
        """The accumulated result (``ChatCompletion``, ``Message`` or ``Response``).

        Raises:
            APIConnectionError: the stream was not read to its end.
        """
        final = self._reader.final()
        if isinstance(final, Result) and "_request_id" not in final.__dict__:
            attach(final, None, self._request_id)
            if self._retries:
                final.__dict__["_retries"] = self._retries
        return final

    @overload
    async def get_final(self: AsyncStream[ChatCompletionChunk]) -> ChatCompletion: ...
    @overload
    async def get_final(self: AsyncStream[MessageStreamEvent]) -> Message: ...
    @overload
    async def get_final(self: AsyncStream[ResponseStreamEvent]) -> ResponsesResponse: ...
    @overload
    async def get_final(self) -> Any: ...

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
        text_of = self._reader.format.text_of
        async for item in self:
            text = text_of(item)
            if text:
                yield text

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Alias of ``text_deltas()`` (the Anthropic SDK's name)."""
        return self.text_deltas()

    def __repr__(self) -> str:
        reader = self._reader
        state = "done" if reader.done else ("closed" if self._closed else "open")
        return f"<AsyncStream {state} items={len(reader.items)} request_id={self._request_id!r}>"

    def __del__(self) -> None:
        # An abandoned stream must not hold its connection or its rate-limit slot.
        if not self._closed:
            self._abort()

    # -- the IO loop -----------------------------------------------------------

    async def _read(self) -> bytes:
        """The next chunk for the reader (b"" at the end of the body)."""
        chunk = self._pending
        if chunk:
            self._pending = b""
            return chunk
        resp = self._resp
        if resp is None:
            if self._reader.failed:
                return b""  # the reader raises its error on the next call
            raise APIConnectionError("Stream closed before it was read to the end.")
        if not self._timed:
            return await resp.read_chunk()
        if self._last_data is None:
            limit, name, since = self._first_event, "first_event", self._started
        else:
            limit, name, since = self._event_idle, "event_idle", self._last_data
        left = None if limit is None else since + limit - time.monotonic()
        return await within(
            resp.read_chunk(),
            left,
            name,
            f"Stream timed out: no data event within {limit} s ({name}).",
        )

    async def _finish(self) -> None:
        """After the end: read the (normally empty) rest so the connection is reusable."""
        resp = self._take_resp()
        self._closed = True
        if resp is not None:
            await resp.finish(0.05)
        self._give_back_slot()

    def _take_resp(self) -> Response | None:
        """Detach the response (the caller releases or drops it); keep nothing of aiohttp's."""
        resp, self._resp = self._resp, None
        self._readany = _no_read
        return resp

    def _abort(self) -> None:
        """Drop the connection now (mid-body: it cannot be reused)."""
        self._closed = True
        resp = self._take_resp()
        if resp is not None:
            resp.close()
        self._give_back_slot()

    def _give_back_slot(self) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()
