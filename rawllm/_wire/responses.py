"""OpenAI Responses API wire format: request bodies, response bodies, stream events.

Spec: https://platform.openai.com/docs/api-reference/responses and
https://platform.openai.com/docs/api-reference/responses-streaming.  A stream
is typed events (``event: <type>`` plus a JSON ``data`` whose ``type`` is the
same) from ``response.created`` to one terminal event: ``response.completed``,
``response.incomplete`` or ``response.failed``; there is no ``[DONE]``.  An
``error`` event (``{"type": "error", "code": ..., "message": ...}``) may come
instead.

Invariants:

- Decoders are built once, at import; the common case is one msgspec decode of
  the data straight into the typed event.  Only a failed decode takes the slow
  path: a generic decode, then the ``type`` decides: unknown event types are
  skipped (``None``), ``error`` and ``response.failed`` raise, unknown output
  items and content parts become ``UnknownOutputItem`` / ``UnknownContentPart``,
  and anything else is an ``APIResponseValidationError`` with the text in ``.body``.
- Terminal events (the end rule is ``rawllm._formats.RESPONSES``'s): ``response.completed``
  and ``response.incomplete``.  An incomplete response is a finished answer cut
  short by the model (``max_output_tokens``, content filter), not a transport
  failure, so it ends the stream normally and ``final()`` returns it with
  ``status == "incomplete"`` and ``incomplete_details.reason`` set.
  ``response.failed`` never reaches the caller: it raises the
  ``APIStatusError`` subclass its ``response.error.code`` names.
- No IO, no clock, no asyncio.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from .._exceptions import error_from_stream_body
from ..sse import ServerSentEvent
from ..types._base import keep_raw_fields
from ..types._responses_items import _KnownOutputContent, _KnownOutputItem
from ..types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseIncompleteEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    UnknownContentPart,
    UnknownOutputItem,
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
    "decode_event",
    "decode_response",
    "encode",
    "stream_from_body",
    "text_delta",
]

_response_decoder: Final = msgspec.json.Decoder(Response)
_event_decoder: Final[msgspec.json.Decoder[ResponseStreamEvent]] = msgspec.json.Decoder(
    ResponseStreamEvent
)


_EVENT_TYPES: Final = union_tags(ResponseStreamEvent)
_ITEM_TYPES: Final = union_tags(_KnownOutputItem)
_PART_TYPES: Final = union_tags(_KnownOutputContent)
# Stand-ins for unknown items / parts during the slow-path conversion; replaced afterwards.
_PLACEHOLDER_ITEM: Final = {"type": "reasoning", "id": "", "summary": []}
_PLACEHOLDER_PART: Final = {"type": "refusal", "refusal": ""}
_PART_EVENTS: Final = frozenset(("response.content_part.added", "response.content_part.done"))

_T = TypeVar("_T")
_Patches = list[tuple[tuple[Any, ...], Any]]


# -- errors and the slow path ----------------------------------------------------------------


def _unknown_parts(parts: Any, path: tuple[Any, ...]) -> _Patches:
    found: _Patches = []
    if isinstance(parts, list):
        for i, part in enumerate(parts):
            if isinstance(part, dict):
                tag = part.get("type")
                if isinstance(tag, str) and tag not in _PART_TYPES:
                    found.append(((*path, i), UnknownContentPart(part)))
                    parts[i] = _PLACEHOLDER_PART
    return found


def _unknown_item(item: Any, path: tuple[Any, ...]) -> tuple[Any, _Patches]:
    """(item or its placeholder, patches) for one decoded output item."""
    if not isinstance(item, dict):
        return item, []
    tag = item.get("type")
    if isinstance(tag, str) and tag not in _ITEM_TYPES:
        return _PLACEHOLDER_ITEM, [(path, UnknownOutputItem(item))]
    if tag == "message":
        return item, _unknown_parts(item.get("content"), (*path, "content"))
    return item, []


def _unknown_in_response(resp: Any, path: tuple[Any, ...]) -> _Patches:
    found: _Patches = []
    if isinstance(resp, dict):
        output = resp.get("output")
        if isinstance(output, list):
            for i, item in enumerate(output):
                output[i], more = _unknown_item(item, (*path, "output", i))
                found += more
    return found


def _element(path: Path, raw: Any) -> tuple[Any, Any] | None:
    """An output item or content part of a known type but an unexpected shape stays, as sent."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    rel = path[1:] if path[:1] == ("response",) else path
    n = len(rel)
    if (n == 2 and rel[0] == "output") or rel == ("item",):
        return _PLACEHOLDER_ITEM, UnknownOutputItem(raw)
    if (n == 4 and rel[0] == "output" and rel[2] == "content") or rel == ("part",):
        return _PLACEHOLDER_PART, UnknownContentPart(raw)
    if n == 3 and rel[0] == "item" and rel[1] == "content":
        return _PLACEHOLDER_PART, UnknownContentPart(raw)
    return None


def _essential(path: Path) -> bool:
    """A response without a usable ``output`` list has lost what the call is for."""
    return path == ("output",) or path == ("response", "output")


# -- responses -------------------------------------------------------------------------------


def decode_response(body: bytes | str) -> Response:
    """Decode a ``POST /v1/responses`` (or ``GET /v1/responses/{id}``) body.

    Args:
        body: the raw body bytes (or text).

    Returns:
        The typed ``Response``; output items and content parts of unknown
        types are ``UnknownOutputItem`` / ``UnknownContentPart``.

    Raises:
        APIResponseValidationError: not JSON, or not a Response (``.body`` is the text).

    Example:
        >>> decode_response(b'{"id": "resp_1", "output": [{"type": "message", "content": '
        ...                 b'[{"type": "output_text", "text": "Hi"}]}]}').output_text
        'Hi'
    """
    try:
        return _response_decoder.decode(body)
    except msgspec.ValidationError:
        pass  # maybe an unknown item or part type: the slow path sorts it out
    except msgspec.DecodeError as exc:
        raise invalid("Response", body, exc) from exc
    obj = generic(body, "Response")
    result: Response
    patches = _unknown_in_response(obj, ())
    result, kept = tolerant(
        obj, Response, "Response", body, patches, element=_element, essential=_essential
    )
    keep_raw_fields(result, kept)
    return result


# -- stream events ------------------------------------------------------------------------------


def _error_event(data: str) -> Exception:
    try:
        obj = any_decoder.decode(data)
    except msgspec.DecodeError:
        obj = None
    if not isinstance(obj, dict):
        obj = {"type": "error", "message": data or "error event in stream"}
    return error_from_stream_body(obj)


def _failed(obj: dict[str, Any]) -> Exception:
    resp = obj.get("response")
    err = resp.get("error") if isinstance(resp, dict) else None
    if not isinstance(err, dict):
        err = {"code": "server_error", "message": "response.failed without an error object"}
    return error_from_stream_body({"error": err})


def decode_event(sse: Event) -> ResponseStreamEvent | None:
    """Decode one server-sent event of a Responses stream.

    Args:
        sse: a ``rawllm.sse.ServerSentEvent`` (anything with ``.event`` and ``.data``).

    Returns:
        The typed event, or ``None`` to skip an event type this version does not know.

    Raises:
        APIStatusError: an ``error`` event or ``response.failed``; the subclass
            follows the error's code or type (``rate_limit_exceeded`` ->
            ``RateLimitError``, ``server_error`` -> ``InternalServerError``).
        APIResponseValidationError: the data is not JSON, or a known event
            type with the wrong shape.

    Example:
        >>> decode_event(ServerSentEvent(event="response.output_text.delta", data='{"type": '
        ...     '"response.output_text.delta", "item_id": "msg_1", "delta": "Hi"}')).delta
        'Hi'
    """
    data = sse.data
    if sse.event == "error":
        raise _error_event(as_text(data))
    try:
        return _event_decoder.decode(data)
    except msgspec.ValidationError:
        pass  # unknown, error or failed type, unknown item or part: decided below
    except msgspec.DecodeError as exc:
        if type(data) is not str:  # raw bytes, invalid UTF-8?: decide on the text, as SSE does
            return decode_event(ServerSentEvent(sse.event, as_text(data)))
        raise invalid("ResponseStreamEvent", data, exc) from exc
    return _decode_event_slow(as_text(data))


decode_events: Final = event_batch(_event_decoder.decode, decode_event, frozenset({"error"}))
"""``decode_event`` over a network chunk's events (``_common.event_batch``)."""


def _decode_event_slow(data: str) -> ResponseStreamEvent | None:
    obj = generic(data, "ResponseStreamEvent")
    if not isinstance(obj, dict):
        raise invalid("ResponseStreamEvent", data, msgspec.ValidationError("not an object"))
    tag = obj.get("type")
    if tag == "error":
        raise error_from_stream_body(obj)
    if tag == "response.failed":
        raise _failed(obj)
    if tag not in _EVENT_TYPES:
        return None  # an event type added after this version
    patches: _Patches = []
    if "response" in obj:
        patches = _unknown_in_response(obj["response"], ("response",))
    elif "item" in obj:
        obj["item"], patches = _unknown_item(obj["item"], ("item",))
    elif tag in _PART_EVENTS and isinstance(obj.get("part"), dict):
        patches = _unknown_parts([obj["part"]], ())
        if patches:
            obj["part"] = _PLACEHOLDER_PART
            patches = [(("part",), patches[0][1])]
    event: ResponseStreamEvent
    event, kept = tolerant(
        obj,
        ResponseStreamEvent,
        "ResponseStreamEvent",
        data,
        patches,
        element=_element,
        essential=_essential,
    )
    response = getattr(event, "response", None)
    if kept and isinstance(response, Response):
        keep_raw_fields(response, under("$.response", kept))
    return event


def text_delta(event: object) -> str | None:
    """The output text an event adds, or None (feeds the stream's text iterator).

    Args:
        event: a decoded stream event.

    Returns:
        ``event.delta`` for ``response.output_text.delta``, else None.

    Example:
        >>> [t for e in events if (t := text_delta(e)) is not None]
        ['Hel', 'lo!']
    """
    if type(event) is ResponseTextDeltaEvent:
        return event.delta
    return None


# -- a whole body answering a stream request -------------------------------------------------


def stream_from_body(body: bytes | str) -> tuple[Response, list[ResponseStreamEvent]]:
    """The events a complete Responses body stands for: its text deltas, then the terminal event.

    A proxy that ignores ``stream=True`` answers with the whole response.
    That is the answer, not a broken stream: each ``output_text`` part becomes
    one ``response.output_text.delta`` (so ``text_deltas()`` works), followed
    by ``response.completed`` (``response.incomplete`` for an incomplete
    response) carrying the whole response, which is ``final()``.

    Args:
        body: the 2xx ``application/json`` body.

    Returns:
        (the decoded response, the events).

    Raises:
        APIStatusError: the body is an error object, or a response whose
            ``status`` is ``failed``, despite the 2xx status.
        APIResponseValidationError: not JSON, or not a response.

    Example:
        >>> final, events = stream_from_body(b'{"id": "r1", "status": "completed", "output": '
        ...     b'[{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}]}')
        >>> [text_delta(e) for e in events], events[-1].type
        (['Hi', None], 'response.completed')
    """
    obj = generic(body, "Response")
    if isinstance(obj, dict):
        if obj.get("status") == "failed":
            raise _failed({"response": obj})
        if "output" not in obj and isinstance(obj.get("error"), dict):
            raise error_from_stream_body(obj)
    response = decode_response(body)
    events: list[ResponseStreamEvent] = []
    for i, item in enumerate(response.output):
        if type(item) is ResponseOutputMessage:
            for j, part in enumerate(item.content):
                if type(part) is ResponseOutputText:
                    events.append(
                        ResponseTextDeltaEvent(
                            item_id=item.id, output_index=i, content_index=j, delta=part.text
                        )
                    )
    if response.status == "incomplete":
        events.append(ResponseIncompleteEvent(response=response))
    else:
        events.append(ResponseCompletedEvent(response=response))
    return response, events
