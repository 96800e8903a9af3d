"""Sans-IO Server-Sent Events decoder: bytes in, events out.

Spec: WHATWG HTML, "9.2.6 Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

Invariants:

* Any chunking of the same bytes gives the same events (a CR ending one chunk
  and an LF starting the next are one line end; a multi-byte UTF-8 character
  or the BOM may be split anywhere).
* One leading UTF-8 BOM (EF BB BF) is dropped, once, at the very start of the
  stream only.
* Lines end at CR, LF or CRLF.  A line is decoded as UTF-8 with U+FFFD for
  invalid bytes; nothing here ever raises on input.
* An event is dispatched at a blank line only if a ``data`` field was seen in
  its block (``data`` alone dispatches ``""``).  ``event``, ``retry`` and the
  data are per block; the ``id`` (last event ID buffer) persists across blocks.
* ``retry`` is taken only when it is all ASCII digits, ``id`` only when it has
  no NUL.  Unknown fields and comments (lines starting with ``:``) are ignored.
* At end of input (``close()``) an unterminated line and an undispatched
  block are discarded, as the spec says.
* Work is linear in the input: an incomplete line is kept as a list of pieces
  and joined once, when its line end arrives.
* Fast path: a chunk without CR is cut at LF as it is; a chunk with a CR is
  first normalised (CRLF and lone CR to LF) and then takes the same path.

Byte modes, for rawllm's own stream readers (``bytes_decoder``): the same
framing, but each event is handed out as its raw data bytes (``names=False``)
or as a ``BytesEvent`` (type and raw data), without decoding the data to
``str``.  The readers decode those bytes straight to JSON, which spares a
UTF-8 decode, and for non-ASCII text a re-encode, per event; invalid UTF-8
then takes the reader's slow path, which decodes it as this module does
(U+FFFD), so the result is the same.

Optional bound (``max_event_bytes``): the incomplete line kept between chunks
and the data of the event being assembled (in bytes as received) may not grow
past it; past it ``feed`` raises ``rawllm.APIResponseValidationError``.  It is
checked where those buffers grow (once per chunk, and per extra data line of a
multi-line event), so it costs nothing per ordinary event, and memory stays
within the cap plus one chunk.  Without it (the default) nothing is limited.

One deviation, for safety: a ``retry`` value with more significant digits than
Python's integer-string limit (``sys.get_int_max_str_digits()``, 4300 by
default) is ignored rather than parsed.

No IO, no clock, no asyncio: ``rawllm._streaming`` feeds it body chunks.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from ._exceptions import APIResponseValidationError

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched server-sent event.

    Attributes:
        event: the event type; ``"message"`` when the block set none.
        data: the data lines of the block joined with ``"\\n"``.
        id: the last event ID at dispatch (it persists across events), or
            ``None`` if no ``id`` field has been accepted yet.
        retry: the reconnection time in ms set inside this event's own block,
            else ``None``.

    Example:
        >>> ServerSentEvent(data="hi")
        ServerSentEvent(event='message', data='hi', id=None, retry=None)
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class BytesEvent(msgspec.Struct, frozen=True, gc=False):
    """An event whose data is still the raw bytes of its data lines (joined with LF).

    Internal to rawllm's stream readers (see ``bytes_decoder``); not exported.
    """

    event: str
    data: bytes


def _parse_retry(value: bytes) -> int | None:
    """The retry value if it is all ASCII digits (and within the int-string limit)."""
    if not value.isdigit():  # bytes.isdigit() is True for ASCII digits only
        return None
    try:
        return int(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        stripped = value.lstrip(b"0")
        return int(stripped or b"0") if len(stripped) <= _max_digits() else None


def _max_digits() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)
    limit: int = get() if get is not None else 0
    return limit if limit > 0 else sys.maxsize


# Whole ``event: <name>`` lines -> the decoded name.  Streams name events from a
# small set (Anthropic, Responses: every event), so a line is recognised by one
# dict lookup, without slicing it.  Bounded: a hostile stream cannot grow it.
_EVENT_LINES: dict[bytes, str] = {b"event: ": "message"}
_EVENT_LINES_MAX = 512


def _event_name(line: bytes) -> str:
    """Decode an ``event: `` line's value, remembering the lines streams send again and again."""
    value = line[7:]
    name = value.decode("utf-8", "replace") if value else "message"
    if len(_EVENT_LINES) < _EVENT_LINES_MAX and len(value) <= 64:
        _EVENT_LINES[line] = name
    return name


class SSEDecoder:
    """Incremental, WHATWG-exact event stream decoder.

    Feed it the response body in chunks of any size; it returns the events
    completed by each chunk.  It keeps no reference to the chunks it is given
    beyond the incomplete last line.

    Example:
        >>> dec = SSEDecoder()
        >>> dec.feed(b"event: ping\\ndata: 1\\n\\ndata: {\\"a\\"")
        [ServerSentEvent(event='ping', data='1', id=None, retry=None)]
        >>> dec.feed(b": 2}\\n\\n")
        [ServerSentEvent(event='message', data='{"a": 2}', id=None, retry=None)]
        >>> dec.close()
        []
    """

    __slots__ = (
        "_cap",
        "_deferred",
        "_more_size",
        "_pending_size",
        "_pending",
        "_head",
        "_slow",
        "_start",
        "_skip_lf",
        "_data",
        "_more",
        "_event",
        "_retry",
        "_id",
        "_last_event_id",
        "_raw",
        "_replaced",
    )

    def __init__(self, *, max_event_bytes: int | None = None) -> None:
        """Create a decoder.

        Args:
            max_event_bytes: optional bound on one line, and on the data of one
                event, in bytes as received (an invalid byte counts one, not the
                three of its U+FFFD); exceeding it raises ``APIResponseValidationError``.
                None (the default): unbounded.
        """
        self._cap = max_event_bytes
        self._deferred: APIResponseValidationError | None = None  # raised by the next call
        self._pending_size = 0  # bytes in _pending (kept only with a cap)
        self._more_size = 0  # bytes in _more (kept only with a cap)
        self._pending: list[bytes] = []  # pieces of the incomplete last line (no CR/LF)
        self._head = b""  # bytes seen while a leading BOM is still possible
        self._start = True  # no byte after a possible BOM has been seen yet
        self._skip_lf = False  # the last byte seen was a CR ending a line
        self._slow = True  # _start or _skip_lf: the chunk's first bytes need a look
        self._data: bytes | None = None  # first data line of the current block
        self._more: list[bytes] | None = None  # all its data lines, once there are two
        self._event = "message"  # event type buffer, "message" standing for ""
        self._retry: int | None = None  # retry set in the current block
        self._id: str | None = None  # the spec's last event ID buffer
        self._last_event_id: str | None = None
        # Text mode, a block over the cap: raw data sizes of the events whose
        # invalid UTF-8 was replaced (their text no longer tells), by index.
        self._replaced: dict[int, int] | None = None
        self._raw = 0  # 0: ServerSentEvent; 1: data bytes; 2: BytesEvent (see bytes_decoder)

    @property
    def last_event_id(self) -> str | None:
        """The last event ID string: the ``id`` buffer as of the last blank line.

        This is what a client sends as ``Last-Event-ID`` when it reconnects;
        ``None`` until an ``id`` field has been accepted and a block ended.

        Example:
            >>> dec = SSEDecoder()
            >>> _ = dec.feed(b"id: 42\\ndata: x\\n\\nid: 43\\n")
            >>> dec.last_event_id
            '42'
        """
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next piece of the body.

        Args:
            chunk: the next bytes of the stream, of any length (empty is fine).

        Returns:
            The events completed by this chunk, in order (often empty).

        Example:
            >>> SSEDecoder().feed(b"data: a\\r\\ndata: b\\r\\n\\r\\n")[0].data
            'a\\nb'
        """
        if self._slow:
            chunk = self._prefix(chunk)
        if 10 not in chunk:  # int needles: memchr, much faster than b"\n"
            if 13 not in chunk:
                if chunk:
                    self._pending.append(chunk)
                    if self._cap is not None:
                        self._grow(len(chunk))
                return []
            return self._feed_cr(chunk)
        if 13 in chunk:
            return self._feed_cr(chunk)
        # Fast path: LF-only line ends.
        pending = self._pending
        if pending:
            pending.append(chunk)
            chunk = b"".join(pending)
            pending.clear()
        if chunk[-1] != 10:  # (usually a chunk ends a line: no rfind call then)
            end = chunk.rfind(b"\n") + 1
            pending.append(chunk[end:])
            chunk = chunk[:end]
        events = self._lines(chunk)
        cap = self._cap
        # With a cap, a look is needed only if something is still being assembled
        # (a tail, an event's data) or the block is bigger than the cap: usually
        # a chunk ends on an event boundary and this is three cheap tests.
        if cap is not None and (pending or self._data is not None or len(chunk) > cap):
            return self._check_sizes(chunk, events, cap)
        return events

    def close(self) -> list[ServerSentEvent]:
        """Signal the end of the input.

        Per the spec, an unterminated last line and a block not ended by a
        blank line are discarded, so this returns no events; it exists so the
        caller marks end of input explicitly, as h11 does.  The decoder is
        then ready for a new stream (a reconnection), keeping
        ``last_event_id``.

        Returns:
            Always an empty list.

        Example:
            >>> dec = SSEDecoder()
            >>> dec.feed(b"data: cut")
            []
            >>> dec.close()
            []

        Raises:
            APIResponseValidationError: with ``max_event_bytes``, an event over
                the cap was found by the last ``feed`` after the events it returned.
        """
        if self._deferred is not None:
            self._raise_deferred()
        self._pending.clear()
        self._pending_size = 0
        self._more_size = 0
        self._head = b""
        self._start = True
        self._skip_lf = False
        self._slow = True
        self._data = None
        self._more = None
        self._event = "message"
        self._retry = None
        self._replaced = None  # (an error inside _lines can leave a block's sizes)
        return []

    def _prefix(self, chunk: bytes) -> bytes:
        """Drop a leading BOM and an LF that completes a CRLF split across chunks."""
        if self._deferred is not None:
            self._raise_deferred()
        if self._start:
            head = self._head + chunk
            if len(head) < 3 and _BOM.startswith(head):
                self._head = head  # maybe a BOM: wait for more bytes
                return b""
            self._head = b""
            self._start = False
            chunk = head[3:] if head.startswith(_BOM) else head
        elif chunk:  # _skip_lf
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        self._slow = self._skip_lf
        return chunk

    def _feed_cr(self, chunk: bytes) -> list[ServerSentEvent]:
        """General path: the chunk has a CR; turn CRLF and lone CR into LF."""
        pending = self._pending
        if pending:
            pending.append(chunk)
            chunk = b"".join(pending)
            pending.clear()
        if chunk[-1] == 13:
            # The line ends here; an LF starting the next chunk belongs to it.
            self._skip_lf = self._slow = True
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n") + 1
        if end != len(chunk):
            pending.append(chunk[end:])
            chunk = chunk[:end]
        events = self._lines(chunk)
        cap = self._cap
        # With a cap, a look is needed only if something is still being assembled
        # (a tail, an event's data) or the block is bigger than the cap: usually
        # a chunk ends on an event boundary and this is three cheap tests.
        if cap is not None and (pending or self._data is not None or len(chunk) > cap):
            return self._check_sizes(chunk, events, cap)
        return events

    def _raise_deferred(self) -> None:
        error, self._deferred = self._deferred, None
        if error is not None:
            raise error

    def _grow(self, size: int) -> None:
        """The incomplete line grew by ``size`` bytes (only called with a cap).

        Counted from scratch while the line has at most two pieces (the tail
        an earlier chunk left, and this one), then incrementally: linear work.
        """
        pending = self._pending
        if len(pending) <= 2:
            self._pending_size = sum(len(p) for p in pending)
        else:
            self._pending_size += size
        if self._cap is not None and self._pending_size > self._cap:
            self._too_large("line")

    def _too_large(self, what: str) -> None:
        raise self._error(what)

    def _error(self, what: str) -> APIResponseValidationError:
        cap = self._cap
        self.close()  # drop what was buffered: memory is given back at once
        return APIResponseValidationError(
            f"A server-sent event {what} is larger than max_event_bytes={cap}: "
            f"rawllm stopped reading the stream."
        )

    def _check_sizes(
        self, block: bytes, events: list[ServerSentEvent], cap: int
    ) -> list[ServerSentEvent]:
        """After ``_lines``: the tail, the event being built and the new events fit the cap."""
        pending = self._pending
        if pending and len(pending[0]) > cap:
            self._too_large("line")
        if len(block) > cap:  # rare: only then can an event completed here exceed the cap
            replaced, self._replaced = self._replaced, None
            for i, event in enumerate(events):
                size = replaced.get(i) if replaced else None
                if size is None:
                    size = _data_size(event, cap)
                if size > cap:
                    if i == 0:
                        self._too_large("data")
                    # Hand out the events before it; the error comes with the next call.
                    self._deferred = self._error("data")
                    self._slow = True
                    return events[:i]
        data = self._data
        if data is not None:
            size = self._more_size if self._more is not None else len(data)
            if size > cap:
                self._too_large("data")
        return events

    def _count_more(self, more: list[bytes]) -> None:
        """Another data line joined a multi-line event: keep its size (and check it)."""
        cap = self._cap
        if cap is None:
            return
        if len(more) == 2:
            self._more_size = len(more[0]) + len(more[1]) + 1
        else:
            self._more_size += len(more[-1]) + 1
        if self._more_size > cap:
            self._more = None
            self._too_large("data")

    def _lines(self, block: bytes) -> list[Any]:
        """Interpret complete LF-terminated lines (``block`` ends with LF)."""
        lines = block.split(b"\n")
        lines.pop()  # the empty piece after the final LF
        events: list[Any] = []  # ServerSentEvent, or bytes / BytesEvent in a byte mode
        raw = self._raw
        # The data buffer is ``data`` (first line) plus ``more`` (all lines,
        # once there are two): no list is built for the usual one-line event.
        data = self._data
        more = self._more
        event = self._event
        retry = self._retry
        id_ = self._id
        last_id = self._last_event_id
        for line in lines:
            if not line:
                last_id = id_
                if data is not None:
                    if more is not None:
                        data = b"\n".join(more)
                        more = None
                        self._more_size = 0
                    if raw == 1:
                        events.append(data)
                    elif raw:
                        events.append(BytesEvent(event, data))
                    else:
                        # LF is ASCII, so decoding the joined lines equals
                        # decoding each line: U+FFFD never swallows a line end.
                        try:
                            text = data.decode()  # UTF-8; no-argument call is the fastest
                        except UnicodeDecodeError:
                            text = data.decode("utf-8", "replace")
                            if self._cap is not None and len(block) > self._cap:
                                # _check_sizes will measure this block's events:
                                # the text's UTF-8 is longer than what came.
                                if self._replaced is None:
                                    self._replaced = {}
                                self._replaced[len(events)] = len(data)
                        events.append(ServerSentEvent(event, text, id_, retry))
                    data = None
                event = "message"
                retry = None
            elif (value := line.removeprefix(b"data: ")) is not line:
                # One call, no slice objects: removeprefix gives the line itself
                # back when it has no such prefix (CPython, exact bytes: tested).
                if data is None:
                    data = value
                elif more is None:
                    more = [data, value]
                    self._count_more(more)
                else:
                    more.append(value)
                    self._count_more(more)
            elif (name_str := _EVENT_LINES.get(line)) is not None:
                # Second fast path: Anthropic and Responses name every event;
                # the few lines a stream uses are decoded once and reused.
                event = name_str
            elif line[:7] == b"event: ":
                event = _event_name(line)
            elif line[0] != 58:  # not a ":" comment
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    if data is None:
                        data = value
                    elif more is None:
                        more = [data, value]
                        self._count_more(more)
                    else:
                        more.append(value)
                        self._count_more(more)
                elif name == b"event":
                    event = value.decode("utf-8", "replace") if value else "message"
                elif name == b"id":
                    if 0 not in value:
                        id_ = value.decode("utf-8", "replace")
                elif name == b"retry":
                    parsed = _parse_retry(value)
                    if parsed is not None:
                        retry = parsed
        self._data = data
        self._more = more
        self._event = event
        self._retry = retry
        self._id = id_
        self._last_event_id = last_id
        return events


def _data_size(event: ServerSentEvent | BytesEvent | bytes, cap: int) -> int:
    """An event's data size in bytes as received (exact whenever it could exceed ``cap``).

    Text decoded without replacement is as long in UTF-8 as it came; an event
    whose invalid bytes were replaced is measured by ``_lines`` instead.
    """
    data = event if isinstance(event, bytes) else event.data
    if isinstance(data, bytes):
        return len(data)
    if len(data) <= cap // 4:  # 4 bytes per character at most
        return len(data)
    return len(data.encode())


def bytes_decoder(*, names: bool, max_event_bytes: int | None = None) -> SSEDecoder:
    """An ``SSEDecoder`` whose ``feed`` hands out raw data instead of ``ServerSentEvent``.

    For rawllm's stream readers, which decode each event's data straight from
    bytes to JSON.  With ``names=False`` each event is its data bytes (the event
    type, id and retry are tracked but not handed out); with ``names=True`` it
    is a ``BytesEvent`` (type and data).  Framing, the BOM, line ends, the
    dispatch rule and ``max_event_bytes`` are exactly as for ``SSEDecoder``;
    only the data is left undecoded, so invalid UTF-8 is the caller's to
    replace (``data.decode("utf-8", "replace")`` gives what ``SSEDecoder``
    would have).

    Example:
        >>> bytes_decoder(names=False).feed(b"data: {}\\n\\ndata: [DONE]\\n\\n")
        [b'{}', b'[DONE]']
    """
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    decoder._raw = 2 if names else 1
    return decoder
