"""StreamReader: body bytes in, typed stream items out; the one holder of the end-of-stream rule.

Sans-IO, in the manner of h11's body readers: the IO layer (``AsyncStream``)
reads a chunk, calls ``feed(chunk)``, hands out the items it returns, and
calls ``eof()`` when the body ends.  The reader does the rest:

- SSE framing (``rawllm.sse.SSEDecoder`` in a byte mode, ``bytes_decoder``),
  then one decode per event, straight from the data bytes: a network chunk's
  events go to the format's per-chunk decoder (``WireFormat.decode_batch``),
  else one by one to ``decode_data`` / ``decode_event``;
- the end rule: the stream is complete at the first item whose type is in
  ``WireFormat.end_types`` (OpenAI's ``data: [DONE]``, Anthropic's
  ``message_stop``, Responses' ``response.completed`` / ``response.incomplete``);
  anything after it is ignored;
- an in-band error (an error event or object): the items decoded before it in
  the same chunk are returned first, and the error is raised by the next
  ``feed()`` / ``eof()`` (and every call after);
- truncation: ``eof()`` before the end raises ``APIConnectionError`` saying
  what was received; a truncated answer is never returned as complete;
- ``final()``: the items folded by the format's accumulator, once, on demand;
- bounds: with ``max_bytes`` the whole body, with ``max_event_bytes`` one
  event (or line), may not grow past the cap (``APIResponseValidationError``
  naming it); absurdly nested JSON in an event is the same error, not a
  ``RecursionError``.

Per event the cost is one decode, one type lookup in a frozenset and one list
append; per chunk one ``SSEDecoder.feed``.  No IO, no clock, no asyncio.

Another framing (a whole JSON body answering a stream request, say) is
another reader with the same small interface: ``feed``, ``eof``, ``done``,
``items``, ``final``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ._exceptions import APIConnectionError, APIError, APIResponseValidationError
from ._formats import WireFormat
from ._wire._common import Done
from .sse import BytesEvent, bytes_decoder

__all__ = ["Reader", "StreamReader"]

R = TypeVar("R")
E = TypeVar("E")


class Reader(Protocol[E, R]):
    """What ``AsyncStream`` needs of a reader: one per framing, all with this interface.

    ``StreamReader`` reads server-sent events; a reader for another framing
    (a whole JSON body answering a stream request, say) has the same calls,
    and ``BaseClient._open_stream`` is where the framing picks the reader.
    """

    @property
    def done(self) -> bool: ...

    @property
    def failed(self) -> bool: ...

    @property
    def items(self) -> list[E]: ...

    @property
    def format(self) -> WireFormat[R, E]: ...

    def feed(self, data: bytes) -> list[E]: ...

    def eof(self) -> list[E]: ...

    def final(self) -> R: ...


class StreamReader(Generic[E, R]):
    """Decode one stream of ``fmt``: ``feed(bytes) -> items``, ``eof()``, ``final()``.

    Example:
        >>> reader = StreamReader(CHAT)
        >>> items = reader.feed(b'data: {"choices": []}\\n\\ndata: [DONE]\\n\\n')
        >>> len(items), reader.done
        (1, True)
        >>> reader.eof()
        []
        >>> reader.final().object
        'chat.completion'
    """

    __slots__ = (
        "_batch",
        "_bytes",
        "_decode",
        "_error",
        "_final",
        "_fmt",
        "_items",
        "_max_bytes",
        "_sse",
        "done",
    )

    def __init__(
        self,
        fmt: WireFormat[R, E],
        *,
        max_bytes: int | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self._fmt = fmt
        # Events come out as raw data bytes (the event type too, for formats
        # that need it): each is decoded once, bytes straight to JSON.
        self._sse = bytes_decoder(names=fmt.decode_data is None, max_event_bytes=max_event_bytes)
        self._max_bytes = max_bytes
        self._items: list[E] = []
        self._error: APIError | None = None
        self._final: R | None = None
        self._bytes = 0
        self.done = False
        """True once the end was seen: the stream is whole."""
        # The plain function, not a bound method: a bound method kept on self
        # would be a reference cycle, and every stream would wait for the GC.
        self._batch = fmt.decode_batch  # called straight from feed(): no call between
        self._decode: Callable[[StreamReader[E, R], list[Any], list[E]], None] = (
            StreamReader._decode_data
            if fmt.decode_data is not None
            else StreamReader._decode_events
        )

    @property
    def format(self) -> WireFormat[R, E]:
        """The wire format this reader decodes."""
        return self._fmt

    @property
    def items(self) -> list[E]:
        """Every item handed out so far (the input of ``final()``)."""
        return self._items

    @property
    def failed(self) -> bool:
        """An error is waiting: the next ``feed()`` / ``eof()`` raises it."""
        return self._error is not None

    def feed(self, data: bytes) -> list[E]:
        """The items completed by ``data`` (possibly none).

        Raises:
            APIStatusError: an in-band error event (after the items before it
                were returned by an earlier call).
            APIResponseValidationError: an event that does not fit the format.
        """
        if self._error is not None:
            raise self._error
        if self.done or not data:
            return []
        self._bytes += len(data)
        try:
            if self._max_bytes is not None and self._bytes > self._max_bytes:
                raise APIResponseValidationError(
                    f"The stream is larger than max_response_bytes={self._max_bytes}: "
                    f"rawllm stopped reading it."
                )
            events: list[Any] = self._sse.feed(data)  # raises past max_event_bytes
        except APIError as exc:
            self._error = exc
            raise
        if not events:
            return []
        new: list[E] = []
        batch = self._batch
        try:
            if batch is not None:
                end = batch(events, new, self._fmt.end_types)
                if end is not None:
                    self._end(end, new)
            else:
                self._decode(self, events, new)
        except (APIError, RecursionError) as exc:
            self._fail(exc, handed_out=bool(new))
        self._items.extend(new)
        return new

    def eof(self) -> list[E]:
        """The body ended.  Returns the last items (none for SSE) or raises.

        Raises:
            APIConnectionError: the end was never seen; the message says what
                was received.  (Or the pending in-band error.)
        """
        if self._error is not None:
            raise self._error
        try:
            self._sse.close()  # an unterminated last block is discarded, as the SSE spec says
        except APIError as exc:  # an oversized event after the items it let through
            if not self.done:  # (after the end, nothing counts)
                self._error = exc
                raise
        if self.done:
            return []
        self._error = APIConnectionError(
            f"Stream ended before {self._fmt.terminator}: the answer is incomplete "
            f"({self._received()})."
        )
        raise self._error

    def final(self) -> R:
        """The complete result (``ChatCompletion``, ``Message``, ``Response``), folded once.

        Raises:
            APIConnectionError: the end was not seen yet.
        """
        final = self._final
        if final is None:
            if not self.done:
                raise APIConnectionError(
                    f"Stream not complete: read it to the end (or await get_final()) "
                    f"before final(); no {self._fmt.terminator} was seen yet "
                    f"({self._received()})."
                )
            make = self._fmt.accumulator
            if make is None:
                raise TypeError(f"{self._fmt.name} does not stream")
            acc = make()
            for item in self._items:
                acc.add(item)
            final = self._final = acc.result()
        return final

    def _received(self) -> str:
        n = len(self._items)
        what = f"{n} item{'s' if n != 1 else ''} in {self._bytes} bytes"
        if n:
            what += f", the last a {type(self._items[-1]).__name__}"
        return what

    def _fail(self, exc: APIError | RecursionError, *, handed_out: bool) -> None:
        """Keep the error for every later call; raise it now unless items come first."""
        if isinstance(exc, RecursionError):  # msgspec on absurdly nested JSON: hostile, not a bug
            exc = APIResponseValidationError(
                "A stream event's JSON is nested too deeply to decode."
            )
        self._error = exc
        if not handed_out:
            raise exc from None

    # Without the format's per-chunk decoder (``decode_batch``, called from
    # feed()): one call per event.  The two loops differ only in what they
    # pass the decoder: no branch on the format.

    def _decode_data(self, events: list[bytes], new: list[E]) -> None:
        decode = self._fmt.decode_data
        assert decode is not None
        ends = self._fmt.end_types
        for data in events:
            item = decode(data)
            if item is None:
                continue
            if type(item) in ends:
                self._end(item, new)
                return
            new.append(item)  # type: ignore[arg-type]  # not a Done: its type ends the stream

    def _decode_events(self, events: list[BytesEvent], new: list[E]) -> None:
        decode = self._fmt.decode_event
        ends = self._fmt.end_types
        for event in events:
            item = decode(event)
            if item is None:
                continue
            if type(item) in ends:
                self._end(item, new)
                return
            new.append(item)  # type: ignore[arg-type]  # not a Done: its type ends the stream

    def _end(self, item: E | Done, new: list[E]) -> None:
        self.done = True
        if type(item) is not Done:
            new.append(item)  # type: ignore[arg-type]
