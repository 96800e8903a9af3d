"""Anthropic Messages wire format: request bodies, response bodies, stream events.

Spec: https://docs.anthropic.com/en/api/messages and the streaming page
(https://docs.anthropic.com/en/docs/build-with-claude/streaming).  A stream is
``message_start``, then per block ``content_block_start`` /
``content_block_delta``* / ``content_block_stop``, then ``message_delta`` and
``message_stop``; ``ping`` may come anywhere and ``event: error`` carries
``{"type": "error", "error": {"type": "overloaded_error", ...}}``.

Invariants:

- Decoders are built once, at import.  The common case (every tag known) is
  one msgspec decode of the bytes straight into the typed Struct, with no
  ``json.loads``.  Only when that decode fails does the slow path run: the body
  is decoded generically, the ``type`` of the event / delta / content block is
  checked, and then it is skipped (unknown event type, ``ping``),
  raised (``error``), patched (an unknown content block or delta becomes an
  ``UnknownContentBlock`` / ``UnknownDelta``) or reported as invalid.  New event and block types
  therefore never break a stream, and known ones pay nothing for it.
  Measured (CPython 3.11, msgspec 0.22, one ``text_delta`` event): 0.33 us
  through the union decode, 0.53 us when decoding a ``type`` head first and
  then the per-type Struct, 1-5 us for the rare unknown type on the slow path;
  ``ping`` is skipped by its event name without decoding (0.06 us).
- An invalid body or event raises ``APIResponseValidationError`` with the text
  in ``.body``; an error event raises the ``APIStatusError`` subclass that
  ``error_from_stream_body`` picks from its error type.
- No IO, no clock, no asyncio.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .._exceptions import error_from_stream_body
from ..sse import ServerSentEvent
from ..types._base import keep_raw_fields
from ..types.anthropic import (
    ContentBlock,
    InputJSONDelta,
    Message,
    MessageDelta,
    MessageDeltaUsage,
    MessageStreamEvent,
    MessageTokensCount,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    ServerToolUseBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    UnknownContentBlock,
    UnknownDelta,
    _KnownContentBlock,
    _KnownDelta,
)
from ._common import (
    Event,
    any_decoder,
    as_text,
    encode,
    event_batch,
    generic,
    invalid,
    union_tags,
)
from ._tolerant import Path, tolerant, under

__all__ = [
    "decode_count_tokens",
    "decode_event",
    "decode_message",
    "encode",
    "stream_from_body",
    "text_delta",
]

_message_decoder: Final = msgspec.json.Decoder(Message)
_count_decoder: Final = msgspec.json.Decoder(MessageTokensCount)
_event_decoder: Final[msgspec.json.Decoder[MessageStreamEvent]] = msgspec.json.Decoder(
    MessageStreamEvent
)


_EVENT_TYPES: Final = union_tags(MessageStreamEvent)
_BLOCK_TYPES: Final = union_tags(_KnownContentBlock)
_DELTA_TYPES: Final = union_tags(_KnownDelta)
# Stand in for an unknown block / delta during the slow-path conversion; replaced afterwards.
_PLACEHOLDER_BLOCK: Final = {"type": "redacted_thinking", "data": ""}
_PLACEHOLDER_DELTA: Final = {"type": "signature_delta", "signature": ""}


# -- errors and the slow path ------------------------------------------------------------


def _unknown_blocks(blocks: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Any]]:
    """Swap unknown blocks in a decoded ``content`` list for placeholders; say where they were."""
    found: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(blocks, list):
        for i, block in enumerate(blocks):
            if isinstance(block, dict):
                tag = block.get("type")
                if isinstance(tag, str) and tag not in _BLOCK_TYPES:
                    found.append(((*path, i), UnknownContentBlock(block)))
                    blocks[i] = _PLACEHOLDER_BLOCK
    return found


def _block_element(path: Path, raw: Any) -> tuple[Any, Any] | None:
    """A content block of a known type but an unexpected shape stays, as sent, unknown."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    n = len(path)
    at_block = (
        (n == 2 and path[0] == "content" and isinstance(path[1], int))
        or (n == 3 and path[:2] == ("message", "content") and isinstance(path[2], int))
        or path == ("content_block",)
    )
    if not at_block:
        return None
    return _PLACEHOLDER_BLOCK, UnknownContentBlock(raw)


# -- responses ---------------------------------------------------------------------------


def decode_message(body: bytes | str) -> Message:
    """Decode a ``POST /v1/messages`` response body.

    Args:
        body: the raw body bytes (or text).

    Returns:
        The typed ``Message``; a content block of an unknown type is an
        ``UnknownContentBlock``.

    Raises:
        APIResponseValidationError: not JSON, or not a Message (``.body`` is the text).

    Example:
        >>> decode_message(b'{"id": "msg_1", "model": "m", "content": [{"type": "text", '
        ...                b'"text": "Hi"}], "usage": {"input_tokens": 3, "output_tokens": 1}}'
        ...                ).content[0].text
        'Hi'
    """
    try:
        return _message_decoder.decode(body)
    except msgspec.ValidationError:
        pass  # maybe an unknown block type: the slow path below sorts it out
    except msgspec.DecodeError as exc:
        raise invalid("Message", body, exc) from exc
    obj = generic(body, "Message")
    patches = _unknown_blocks(obj.get("content"), ("content",)) if isinstance(obj, dict) else []
    message: Message
    message, kept = tolerant(obj, Message, "Message", body, patches, element=_block_element)
    keep_raw_fields(message, kept)
    return message


def decode_count_tokens(body: bytes | str) -> MessageTokensCount:
    """Decode a ``POST /v1/messages/count_tokens`` response body.

    Args:
        body: the raw body bytes (or text).

    Returns:
        The typed ``MessageTokensCount``.

    Raises:
        APIResponseValidationError: not JSON, or no ``input_tokens``.

    Example:
        >>> decode_count_tokens(b'{"input_tokens": 14}').input_tokens
        14
    """
    try:
        return _count_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise invalid("MessageTokensCount", body, exc) from exc


# -- stream events --------------------------------------------------------------------------


def _stream_error(data: str) -> Exception:
    try:
        obj = any_decoder.decode(data)
    except msgspec.DecodeError:
        obj = None
    if not isinstance(obj, dict):
        obj = {"type": "error", "error": {"type": "api_error", "message": data or "error event"}}
    return error_from_stream_body(obj)


def decode_event(sse: Event) -> MessageStreamEvent | None:
    """Decode one server-sent event of a Messages stream.

    Args:
        sse: a ``rawllm.sse.ServerSentEvent`` (anything with ``.event`` and ``.data``).

    Returns:
        The typed event, or ``None`` to skip it: ``ping``, or an event type
        this version does not know.  An unknown content block type in
        ``content_block_start`` / ``message_start`` is kept, as an
        ``UnknownContentBlock``, so that block indices stay right; an unknown
        delta type is kept as an ``UnknownDelta`` (``final()`` folds it in).

    Raises:
        APIStatusError: an ``error`` event; the subclass follows its error type
            (``overloaded_error`` -> ``OverloadedError``, ``rate_limit_error``
            -> ``RateLimitError``).
        APIResponseValidationError: the data is not JSON, or a known event
            type with the wrong shape.

    Example:
        >>> ev = decode_event(ServerSentEvent(event="content_block_delta", data='{"type": '
        ...     '"content_block_delta", "index": 0, "delta": {"type": "text_delta", '
        ...     '"text": "Hi"}}'))
        >>> ev.type, ev.delta.text
        ('content_block_delta', 'Hi')
    """
    name = sse.event
    if name == "ping":
        return None
    data = sse.data
    if name == "error":
        raise _stream_error(as_text(data))
    try:
        return _event_decoder.decode(data)
    except msgspec.ValidationError:
        pass  # unknown or error type, unknown delta or block: decided below
    except msgspec.DecodeError as exc:
        if type(data) is not str:  # raw bytes, invalid UTF-8?: decide on the text, as SSE does
            return decode_event(ServerSentEvent(sse.event, as_text(data)))
        raise invalid("MessageStreamEvent", data, exc) from exc
    return _decode_event_slow(as_text(data))


decode_events: Final = event_batch(
    _event_decoder.decode, decode_event, frozenset({"ping", "error"})
)
"""``decode_event`` over a network chunk's events (``_common.event_batch``)."""


def _decode_event_slow(data: str) -> MessageStreamEvent | None:
    obj = generic(data, "MessageStreamEvent")
    if not isinstance(obj, dict):
        raise invalid("MessageStreamEvent", data, msgspec.ValidationError("not an object"))
    tag = obj.get("type")
    if tag == "error":
        raise error_from_stream_body(obj)
    if tag not in _EVENT_TYPES:
        return None  # ping, or an event type added after this version
    patches: list[tuple[tuple[Any, ...], Any]] = []
    if tag == "content_block_delta":
        delta = obj.get("delta")
        if isinstance(delta, dict):
            delta_tag = delta.get("type")
            if isinstance(delta_tag, str) and delta_tag not in _DELTA_TYPES:
                # A new kind of delta: yielded as sent, and folded into final().
                obj["delta"] = _PLACEHOLDER_DELTA
                patches = [(("delta",), UnknownDelta(delta))]
    elif tag == "content_block_start":
        block = obj.get("content_block")
        patches = _unknown_blocks([block], ())
        if patches:
            obj["content_block"] = _PLACEHOLDER_BLOCK
            patches = [(("content_block",), patches[0][1])]
    elif tag == "message_start":
        message = obj.get("message")
        if isinstance(message, dict):
            patches = _unknown_blocks(message.get("content"), ("message", "content"))
    event: MessageStreamEvent
    event, kept = tolerant(
        obj, MessageStreamEvent, "MessageStreamEvent", data, patches, element=_block_element
    )
    if kept and type(event) is RawMessageStartEvent:
        keep_raw_fields(event.message, under("$.message", kept))
    return event


def text_delta(event: object) -> str | None:
    """The answer text an event adds, or None (feeds the stream's text iterator).

    Args:
        event: a decoded stream event.

    Returns:
        ``event.delta.text`` for a ``text_delta``, else None (thinking, tool
        input JSON and citations are not answer text).

    Example:
        >>> [t for e in events if (t := text_delta(e)) is not None]
        ['Hel', 'lo!']
    """
    if type(event) is RawContentBlockDeltaEvent:
        delta = event.delta
        if type(delta) is TextDelta:
            return delta.text
    return None


# -- a whole body answering a stream request -------------------------------------------------

_replace: Final = msgspec.structs.replace


def _block_events(index: int, block: ContentBlock) -> list[MessageStreamEvent]:
    """A block as the stream sends it: started empty, filled by deltas, stopped."""
    start: ContentBlock = block
    deltas: list[Any] = []
    if type(block) is TextBlock and block.text:
        start, deltas = _replace(block, text=""), [TextDelta(text=block.text)]
    elif type(block) is ToolUseBlock or type(block) is ServerToolUseBlock:
        start = _replace(block, input={})
        deltas = [InputJSONDelta(partial_json=encode(block.input).decode())]
    elif type(block) is ThinkingBlock:
        start = _replace(block, thinking="", signature="")
        deltas = [ThinkingDelta(thinking=block.thinking), SignatureDelta(signature=block.signature)]
    events: list[MessageStreamEvent] = [RawContentBlockStartEvent(index=index, content_block=start)]
    events += [RawContentBlockDeltaEvent(index=index, delta=d) for d in deltas]
    events.append(RawContentBlockStopEvent(index=index))
    return events


def stream_from_body(body: bytes | str) -> tuple[Message, list[MessageStreamEvent]]:
    """The event sequence a complete Messages body stands for.

    A proxy that ignores ``stream=True`` answers with the whole message.  That
    is the answer, not a broken stream: it becomes ``message_start``, each
    block as the stream sends it (text as one ``text_delta``, tool input as one
    ``input_json_delta``, thinking as ``thinking_delta`` + ``signature_delta``,
    other blocks whole), ``message_delta`` and ``message_stop``, so iterating,
    ``text_deltas()`` and ``final()`` work as for a real stream.

    Args:
        body: the 2xx ``application/json`` body.

    Returns:
        (the decoded message, which is the stream's ``final()``, the events).

    Raises:
        APIStatusError: the body is an error (``{"type": "error", ...}``)
            despite the 2xx status; the subclass its error type names.
        APIResponseValidationError: not JSON, or not a message.

    Example:
        >>> final, events = stream_from_body(b'{"id": "m1", "model": "m", "content": [{"type": '
        ...     b'"text", "text": "Hi"}], "usage": {"input_tokens": 3, "output_tokens": 1}}')
        >>> [e.type for e in events][:3], text_delta(events[2])
        (['message_start', 'content_block_start', 'content_block_delta'], 'Hi')
    """
    obj = generic(body, "Message")
    if isinstance(obj, dict) and (obj.get("type") == "error" or "content" not in obj):
        if isinstance(obj.get("error"), dict):
            raise error_from_stream_body(obj)
    message = decode_message(body)
    usage = message.usage
    start = _replace(message, content=[], stop_reason=None, stop_sequence=None)
    events: list[MessageStreamEvent] = [RawMessageStartEvent(message=start)]
    for index, block in enumerate(message.content):
        events += _block_events(index, block)
    events.append(
        RawMessageDeltaEvent(
            delta=MessageDelta(
                stop_reason=message.stop_reason,
                stop_sequence=message.stop_sequence,
                container=message.container,
                stop_details=message.stop_details,
            ),
            usage=MessageDeltaUsage(
                output_tokens=usage.output_tokens,
                input_tokens=usage.input_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
                server_tool_use=usage.server_tool_use,
                output_tokens_details=usage.output_tokens_details,
            ),
        )
    )
    events.append(RawMessageStopEvent())
    return message, events
