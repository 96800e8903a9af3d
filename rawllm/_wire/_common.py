"""Pieces every wire module shares: the validation error, the generic decode, slow-path patching.

Sans-IO.  The fast paths live in each wire module (one typed decode); these
helpers run only when a body is invalid or carries a type rawllm does not
know yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, TypeVar

import msgspec

from .._exceptions import APIResponseValidationError

__all__ = [
    "DONE",
    "Done",
    "Event",
    "any_decoder",
    "body_text",
    "encode",
    "generic",
    "invalid",
    "put",
    "union_tags",
]

any_decoder: Final = msgspec.json.Decoder()
"""Decodes any JSON to plain Python objects (module-level: built once)."""

_encoder: Final = msgspec.json.Encoder()


class Done:
    """Type of ``DONE``: what a stream decoder returns for a terminator that carries no item.

    OpenAI's ``data: [DONE]``.  Whether it ends the stream is the format's rule
    (``WireFormat.end_types``), applied by ``StreamReader``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


DONE: Final = Done()


E = TypeVar("E")


class Event(Protocol):
    """What a stream event decoder reads: a ``rawllm.sse.ServerSentEvent`` or anything alike."""

    @property
    def event(self) -> str: ...

    @property
    def data(self) -> str | bytes: ...


def as_text(data: str | bytes) -> str:
    """An event's data as the SSE spec reads it: UTF-8, U+FFFD for invalid bytes.

    Stream readers hand decoders the raw data bytes (``rawllm.sse.bytes_decoder``);
    the slow paths (errors, odd shapes, invalid UTF-8) work on text, via this.

    Example:
        >>> as_text(b"caf\\xc3\\xa9 \\xff")
        'café \\ufffd'
    """
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


Batch = Callable[[list[Any], list[E], frozenset[type]], Any]


def event_batch(
    fast: Callable[[bytes], E], full: Callable[[Event], E | None], special: frozenset[str]
) -> Batch[E]:
    """A stream reader's per-chunk decoder for an API whose events are named.

    ``batch(events, out, ends)`` decodes a network chunk's events into ``out``
    and returns the first item whose type is in ``ends`` (not appended), or
    None.  Each ordinary event costs one ``fast`` decode (msgspec, straight
    from the data bytes) and no Python call; an event named in ``special``
    (errors, pings), and any event ``fast`` refuses (unknown types, odd
    shapes, error objects, invalid UTF-8), goes to ``full``, the format's
    ``decode_event``, which owns every rule for those.  So the items are those
    of ``full`` on each event, which the stream reader tests assert.
    """

    def batch(events: list[Any], out: list[E], ends: frozenset[type]) -> E | None:
        for sse in events:
            item: E | None
            if sse.event in special:
                item = full(sse)
            else:
                try:
                    item = fast(sse.data)
                except msgspec.DecodeError:  # (a ValidationError too)
                    item = full(sse)
            if item is None:
                continue
            if type(item) in ends:
                return item
            out.append(item)
        return None

    return batch


def encode(params: Mapping[str, Any]) -> bytes:
    """Encode a request body to JSON bytes (every API: one msgspec encoder, built once).

    msgspec Structs inside (a ``ChatCompletionMessage`` or content block passed
    back in ``messages``) encode without their unset fields.

    Args:
        params: the body, already passed through ``build_params()``.

    Returns:
        UTF-8 JSON bytes.

    Raises:
        TypeError: a value JSON cannot represent.

    Example:
        >>> encode({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    """
    return _encoder.encode(params)


def body_text(body: bytes | str) -> str:
    """The body as text, invalid UTF-8 replaced (for an error's ``.body``)."""
    return body if isinstance(body, str) else body.decode("utf-8", "replace")


def invalid(what: str, body: bytes | str, exc: Exception) -> APIResponseValidationError:
    """The error for a 2xx body that is not JSON or does not fit ``what``."""
    if isinstance(exc, msgspec.ValidationError):
        reason = f"the body does not fit {what}: {exc}"
    else:  # DecodeError, UnicodeDecodeError
        reason = f"the body is not valid JSON ({exc})"
    return APIResponseValidationError(
        f"Data returned by API invalid for expected schema: {reason}", body=body_text(body)
    )


def generic(body: bytes | str, what: str) -> Any:
    """Decode to plain Python objects, or raise ``invalid()``."""
    try:
        return any_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise invalid(what, body, exc) from exc


def put(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path`` (list indexes and attribute names) inside ``obj``."""
    for key in path[:-1]:
        obj = obj[key] if isinstance(key, int) else getattr(obj, key)
    last = path[-1]
    if isinstance(last, int):
        obj[last] = value
    else:
        setattr(obj, last, value)


def union_tags(union: Any) -> frozenset[str]:
    """The ``type`` tags of a tagged union of Structs (to tell known tags from new ones)."""
    return frozenset(cls.__struct_config__.tag for cls in union.__args__)
